"""`hotline bench media`: real audio under load, measured on the wire.

N callers (one SIPp process) dial the hotline at once. Each plays one RTP
stream from its ACK on: G.711 PCMU at 20 ms, with its menu key (1, enquiries)
as RFC 2833 events inside the same stream `key_ms` in, during the welcome
prompt, and hangs up after the stream. The full IVR path (FastAGI menu and
decision, call log) routes it to the enquiries queue; a seat answers and plays
its own PCMU stream for `talk_s` from its ACK on (lab/scenarios/seat.xml). There
are N + 2 seats, since queues ring a seat in use no more; they register
(sip.seat_contacts: register) and SEAT_PROCESSES SIPp processes serve them all
(lab.sipp.SharedSeats): a SIPp process per seat polls every millisecond even
when idle, and a hundred of them cost more CPU than the Asterisk measured. The
bench config is the sample config with the bench agents on every skill, open
and on shift around the clock (so no clock is pinned), and registered seats.

How it is measured. `tcpdump` captures the loopback's UDP to and from
Asterisk's RTP ports (rtp.conf) for the whole run; the pcap is parsed here.
Every audio packet the callers and seats send carries a tag and its own slot
number in its first 8 payload bytes (the rest is a tone), so the packets Asterisk
relays can be told apart and counted whatever Asterisk does to sequence numbers:

* caller_to_seat: on each Asterisk -> seat flow, caller packets received;
  expected = the caller's audio slots from the first one seen at the seat to
  the end of its stream (the bridge lasts until the caller hangs up, after its
  stream). A loss before the first packet relayed is not seen.
* seat_to_caller: on each Asterisk -> caller flow, seat packets received;
  expected = the seat's slots from the first one seen to the end of its stream.
* prompt_to_caller: on each Asterisk -> caller flow, the untagged packets
  (the prompt) before the caller's first RFC 2833 packet; expected = their span
  at one packet per 20 ms, so a prompt that stalls and runs late counts as
  loss (Asterisk does not catch up: the caller hears a hole either way).
* max_gap_ms: the longest time between two consecutive packets counted;
  gaps_over_100ms how many; interval_p99_ms / interval_p999_ms the percentiles
  of every interval between consecutive packets (20 ms when all is well).
* peak_concurrent: the most calls whose audio in that direction flowed at once.
* sender_gap: the longest gap in what the callers and the seats themselves sent
  (SIPp's own timing): a gap here is the rig's, not Asterisk's.

The capture sees a packet when it is sent on the loopback, so "received" means
delivered to the receiver's socket, not read from it: SIPp replays its pcaps and
never reads its media socket (whose full buffer then drops what comes, which
is the rig's and not counted). What the figures do see is every packet Asterisk
did not relay or sent late. The capture's own drops are reported
(`capture["dropped by kernel"]`): when not 0 the loss figures are not to be
trusted. Asterisk CPU per call is its CPU time over the run (ramp included)
divided by the calls. The rig is on the same machine and says what it cost:
`rig_cpu_s` is the CPU of the SIPp callers and seats and of tcpdump, and the
machine's user/system CPU and load average are printed beside it (a shared
machine's other work shows there).
"""

from __future__ import annotations

import math
import os
import re
import resource
import shutil
import signal
import struct
import subprocess
import tempfile
import time
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from lab.bench import MAX_KEY_MS, MIN_KEY_MS
from lab.bench.ivr_load import Latencies

PTIME_S = 0.020
SAMPLES = 160  # 20 ms of 8 kHz
PT_PCMU, PT_EVENT = 0, 101
CALLER_TAG, SEAT_TAG = b"HLcA", b"HLsE"
KEY = "1"  # enquiries
KEY_MS = 3000  # into the welcome prompt (24 s in zh-CN)
ROUTE_BUDGET_MS = 6000  # key to seat answer, before the caller's stream ends
RTP_RANGE = (10000, 20000)  # config/asterisk/rtp.conf
EVENT_PACKETS, EVENT_END_REPEATS = 7, 3
MAX_CALLS = 1000
SEAT_PROCESSES = 4  # SIPp UAS processes the registered seats share
_SNAPLEN = 96
_EVENT_CODES = {**{str(d): d for d in range(10)}, "*": 10, "#": 11}


# --- G.711 and the streams (pure) ------------------------------------------------


def ulaw(sample: int) -> int:
    """One 16-bit linear sample as a G.711 mu-law byte."""
    sign = 0x80 if sample < 0 else 0
    magnitude = min(abs(sample), 32635) + 0x84
    exponent = max(0, magnitude.bit_length() - 8)
    mantissa = (magnitude >> (exponent + 3)) & 0x0F
    return ~(sign | (exponent << 4) | mantissa) & 0xFF


def tone(hz: float, amplitude: int = 6000) -> bytes:
    """One 20 ms frame of a tone in PCMU (whole cycles at 8 kHz where hz divides)."""
    return bytes(ulaw(int(amplitude * math.sin(2 * math.pi * hz * n / 8000))) for n in range(160))


def tagged(tag: bytes, slot: int, frame: bytes) -> bytes:
    """A PCMU payload whose first 8 bytes say whose it is and its slot."""
    return tag + struct.pack(">I", slot) + frame[8:]


def untag(payload: bytes) -> tuple[bytes, int] | None:
    """(tag, slot) of a tagged payload, or None for any other (a prompt)."""
    if len(payload) < 8 or payload[:4] not in (CALLER_TAG, SEAT_TAG):
        return None
    return payload[:4], struct.unpack(">I", payload[4:8])[0]


@dataclass(frozen=True)
class Stream:
    """What one RTP stream holds: its slots of 20 ms, and those that are keys."""

    slots: int
    key_slots: frozenset[int] = frozenset()

    @property
    def audio_slots(self) -> int:
        return self.slots - len(self.key_slots)

    def audio_from(self, first: int) -> int:
        """Audio slots from `first` to the end."""
        return sum(1 for s in range(first, self.slots) if s not in self.key_slots)


def rtp_packets(
    tag: bytes, seconds: float, hz: float, keys_at_ms: dict[int, str] | None = None
) -> tuple[list[tuple[float, bytes]], Stream]:
    """The RTP packets (offset in s, RTP bytes) of one stream: PCMU every 20 ms,
    tagged with its slot; a key at an offset replaces the audio with RFC 2833
    events (EVENT_PACKETS updates, then EVENT_END_REPEATS end packets)."""
    frame = tone(hz)
    slots = max(1, round(seconds / PTIME_S))
    events: dict[int, tuple[str, int]] = {}
    for at_ms, key in (keys_at_ms or {}).items():
        first = round(at_ms / 1000 / PTIME_S)
        for i in range(EVENT_PACKETS + EVENT_END_REPEATS):
            if first + i < slots:
                events[first + i] = (key, i)
    ssrc = 0x1C0FFEE if tag == CALLER_TAG else 0x5EA75EA7
    packets = []
    event_ts = 0
    for slot in range(slots):
        ts = slot * SAMPLES
        if slot in events:
            key, i = events[slot]
            if i == 0:
                event_ts = ts
            end = i >= EVENT_PACKETS - 1
            duration = SAMPLES * min(i + 1, EVENT_PACKETS)
            payload = struct.pack(">BBH", _EVENT_CODES[key], (0x80 if end else 0) | 10, duration)
            header = struct.pack(
                ">BBHII", 0x80, (0x80 if i == 0 else 0) | PT_EVENT, slot, event_ts, ssrc
            )
        else:
            payload = tagged(tag, slot, frame)
            header = struct.pack(">BBHII", 0x80, (0x80 if slot == 0 else 0), slot, ts, ssrc)
        packets.append((slot * PTIME_S, header + payload))
    return packets, Stream(slots, frozenset(events))


def write_pcap(path: Path, packets: Iterable[tuple[float, bytes]], dport: int = 6000) -> None:
    """An Ethernet pcap of UDP packets 127.0.0.1:5000 -> :dport that SIPp's
    play_pcap_audio replays with this timing from the call's media port to the
    other side's (it rewrites the ports and the UDP checksum)."""
    out = bytearray(struct.pack("<IHHiIII", 0xA1B2C3D4, 2, 4, 0, 0, 65535, 1))
    for offset, rtp in packets:
        udp = struct.pack(">HHHH", 5000, dport, 8 + len(rtp), 0) + rtp
        ip = struct.pack(
            ">BBHHHBBH4s4s", 0x45, 0, 20 + len(udp), 0, 0, 64, 17, 0,
            bytes([127, 0, 0, 1]), bytes([127, 0, 0, 1]),
        )  # fmt: skip
        frame = b"\x00" * 12 + b"\x08\x00" + ip + udp
        sec = int(offset)
        out += struct.pack("<IIII", sec, round((offset - sec) * 1e6), len(frame), len(frame))
        out += frame
    path.write_bytes(bytes(out))


# --- reading the capture (pure) ----------------------------------------------------


@dataclass(frozen=True)
class Packet:
    at: float
    src: int
    dst: int
    pt: int
    payload: bytes  # the first bytes captured


def read_pcap(data: bytes) -> Iterator[Packet]:
    """UDP/RTP packets of a tcpdump capture (Ethernet or Linux cooked, IPv4);
    anything else, or cut short, is skipped."""
    if len(data) < 24:
        return
    magic = struct.unpack_from("<I", data)[0]
    if magic in (0xA1B2C3D4, 0xA1B23C4D):
        order = "<"
    elif magic in (0xD4C3B2A1, 0x4D3CB2A1):
        order = ">"
    else:
        raise ValueError("not a pcap file")
    nano = magic in (0xA1B23C4D, 0x4D3CB2A1)
    link = struct.unpack_from(order + "I", data, 20)[0]
    l2 = {1: 14, 113: 16}.get(link)
    if l2 is None:
        raise ValueError(f"pcap link type {link} is not Ethernet or Linux cooked")
    offset = 24
    while offset + 16 <= len(data):
        sec, frac, incl, _orig = struct.unpack_from(order + "IIII", data, offset)
        if offset + 16 + incl > len(data):
            break  # cut short (tcpdump stopped mid-write)
        pkt = data[offset + 16 : offset + 16 + incl]
        offset += 16 + incl
        if len(pkt) < l2 + 20 or pkt[l2 - 2 : l2] != b"\x08\x00" or pkt[l2 + 9] != 17:
            continue
        udp = l2 + (pkt[l2] & 0x0F) * 4
        if len(pkt) < udp + 8 + 12:
            continue
        src, dst = struct.unpack_from(">HH", pkt, udp)
        at = sec + frac / (1e9 if nano else 1e6)
        yield Packet(at, src, dst, pkt[udp + 9] & 0x7F, pkt[udp + 20 :])


@dataclass
class Direction:
    """Packets expected and received, and the worst gap, over many calls."""

    what: str
    calls: int = 0
    expected: int = 0
    received: int = 0
    max_gap_ms: float = 0.0
    gaps_over_100ms: int = 0
    worst_call_loss_pct: float = 0.0
    spans: list[tuple[float, float]] = field(default_factory=list)
    intervals: list[float] = field(default_factory=list)

    def add(self, expected: int, received: int, times: list[float]) -> None:
        self.calls += 1
        self.expected += expected
        self.received += received
        if expected:
            lost = max(0, expected - received)
            self.worst_call_loss_pct = max(self.worst_call_loss_pct, 100 * lost / expected)
        if times:
            self.spans.append((times[0], times[-1]))
        steps = [b - a for a, b in zip(times, times[1:], strict=False)]
        self.intervals += steps
        self.max_gap_ms = max(self.max_gap_ms, max(steps, default=0.0) * 1000)
        self.gaps_over_100ms += sum(1 for step in steps if step > 0.1)

    def figures(self) -> dict[str, Any]:
        lost = max(0, self.expected - self.received)
        return {
            "measures": self.what,
            "calls": self.calls,
            "expected": self.expected,
            "received": self.received,
            "loss_pct": round(100 * lost / self.expected, 3) if self.expected else None,
            "max_gap_ms": round(self.max_gap_ms, 1),
            "gaps_over_100ms": self.gaps_over_100ms,
            "interval_p99_ms": Latencies(self.intervals).percentile_ms(99),
            "interval_p999_ms": Latencies(self.intervals).percentile_ms(99.9),
            "worst_call_loss_pct": round(self.worst_call_loss_pct, 3),
            "peak_concurrent": peak_overlap(self.spans),
        }


def peak_overlap(spans: Iterable[tuple[float, float]]) -> int:
    """The most spans (start, end) open at one moment."""
    edges = sorted([(a, 1) for a, _ in spans] + [(b, -1) for _, b in spans])
    peak = now = 0
    for _, step in edges:
        now += step
        peak = max(peak, now)
    return peak


def analyse(
    packets: Iterable[Packet],
    caller_port: int,
    seat_ports: set[int],
    caller: Stream,
    seat: Stream,
    rtp_range: tuple[int, int] = RTP_RANGE,
) -> dict[str, Any]:
    """Per direction figures from the captured packets (see the module docstring).

    A flow is keyed by Asterisk's port and its peer's: Asterisk's port is the one
    in `rtp_range`, the peer is the callers' media port or a seat's."""
    lo, hi = rtp_range
    flows: dict[tuple[str, int, int], list[Packet]] = {}
    for p in packets:
        if lo <= p.src <= hi and p.dst == caller_port:
            flows.setdefault(("to_caller", p.src, p.dst), []).append(p)
        elif lo <= p.src <= hi and p.dst in seat_ports:
            flows.setdefault(("to_seat", p.src, p.dst), []).append(p)
        elif lo <= p.dst <= hi and p.src in (seat_ports | {caller_port}):
            flows.setdefault(("from_peer", p.dst, p.src), []).append(p)
    to_seat = Direction("caller -> Asterisk -> seat: caller audio relayed to the seat")
    to_caller = Direction("seat -> Asterisk -> caller: seat audio relayed to the caller")
    prompt = Direction(
        "Asterisk -> caller: the menu prompt before the caller's key;"
        " expected at one packet per 20 ms over its span (a stall counts as loss)"
    )
    sent_gap = 0.0
    no_key = 0
    sent = {"callers": 0, "seats": 0}
    for (kind, port, peer), flow in flows.items():
        flow.sort(key=lambda p: p.at)
        if kind == "from_peer":
            sent["callers" if peer == caller_port else "seats"] += len(flow)
            times = [p.at for p in flow]
            gaps = (b - a for a, b in zip(times, times[1:], strict=False))
            sent_gap = max(sent_gap, max(gaps, default=0.0))
            continue
        want = CALLER_TAG if kind == "to_seat" else SEAT_TAG
        stream = caller if kind == "to_seat" else seat
        relayed = [(p.at, t[1]) for p in flow if (t := untag(p.payload)) and t[0] == want]
        if relayed:
            slots = {s for _, s in relayed}
            first = min(slots)
            (to_seat if kind == "to_seat" else to_caller).add(
                stream.audio_from(first), len(slots), [at for at, _ in relayed]
            )
        if kind == "to_caller":
            upstream = sorted(flows.get(("from_peer", port, peer), []), key=lambda p: p.at)
            key_at = next((p.at for p in upstream if p.pt == PT_EVENT), None)
            if key_at is None:
                no_key += 1
                continue
            heard = [p.at for p in flow if p.at < key_at and untag(p.payload) is None]
            if heard:
                prompt.add(round((heard[-1] - heard[0]) / PTIME_S) + 1, len(heard), heard)
    return {
        "caller_to_seat": to_seat.figures(),
        "seat_to_caller": to_caller.figures(),
        "prompt_to_caller": prompt.figures(),
        "sent": {
            **sent,
            "measures": "packets the callers and the seats sent to Asterisk (on the wire)",
            "caller_stream_packets": caller.slots,
            "seat_stream_packets": seat.slots,
        },
        "sender_max_gap_ms": round(sent_gap * 1000, 1),
        "caller_legs_without_key": no_key,
    }


# --- the bench config -------------------------------------------------------------


def bench_config(source: Path, target: Path, seats: int) -> Path:
    """A copy of the config with `seats` bench agents on every skill, on shift and
    open around the clock (no holidays), and no on-call rota of named agents."""
    shutil.copytree(source, target)
    roster = yaml.safe_load((target / "seats.yaml").read_text(encoding="utf-8"))
    skills = sorted({s for a in roster["agents"] for s in a["skills"]})

    def always() -> dict[str, Any]:  # a new one each time: YAML writes no aliases
        return {"days": "all", "hours": ["00:00-24:00"]}

    agents = [
        {
            "id": f"m{n:03d}",
            "name": f"Media bench {n}",
            "role": "ordinary",
            "seat": f"seat{n}",
            "skills": list(skills),
            "shifts": [always()],
        }
        for n in range(1, seats + 1)
    ]
    oncall = [{"agent": a["id"], **always()} for a in agents[:2]]
    roster.update(agents=agents, oncall=oncall)
    (target / "seats.yaml").write_text(yaml.safe_dump(roster), encoding="utf-8")
    hotline = yaml.safe_load((target / "hotline.yaml").read_text(encoding="utf-8"))
    hotline["sip"]["seat_contacts"] = "register"  # a few SIPp processes serve them all
    (target / "hotline.yaml").write_text(yaml.safe_dump(hotline), encoding="utf-8")
    calendar = yaml.safe_load((target / "calendar.yaml").read_text(encoding="utf-8"))
    calendar["open_hours"] = {d: ["00:00-24:00"] for d in calendar["open_hours"]}
    calendar["holidays"], calendar["makeup_days"] = [], []
    (target / "calendar.yaml").write_text(yaml.safe_dump(calendar), encoding="utf-8")
    return target


# --- capture ----------------------------------------------------------------------

_TCPDUMP_COUNTS = re.compile(r"(\d+) packets? (captured|received by filter|dropped by kernel)")


@dataclass
class Capture:
    path: Path
    counts: dict[str, int] = field(default_factory=dict)


@contextmanager
def capture(path: Path, rtp_range: tuple[int, int] = RTP_RANGE) -> Iterator[Capture]:
    """tcpdump on the loopback: UDP to or from Asterisk's RTP ports, headers and
    the first payload bytes only; its counts (captured, dropped) when it ends."""
    binary = shutil.which("tcpdump")
    if binary is None:
        raise RuntimeError("tcpdump not found on PATH (Debian package tcpdump; ./run installs it)")
    result = Capture(path)
    proc = subprocess.Popen(
        [binary, "-i", "lo", "-n", "-s", str(_SNAPLEN), "-B", "32768", "-Z", "root",
         "-w", str(path), f"udp and portrange {rtp_range[0]}-{rtp_range[1]}"],
        stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        deadline = time.monotonic() + 10
        while not path.exists() and proc.poll() is None and time.monotonic() < deadline:
            time.sleep(0.05)
        if proc.poll() is not None:
            raise RuntimeError(f"tcpdump exited: {proc.stderr.read() if proc.stderr else ''}")
        time.sleep(0.5)  # listening
        yield result
    finally:
        time.sleep(0.5)  # the last packets
        if proc.poll() is None:
            proc.send_signal(signal.SIGINT)
        try:
            _, err = proc.communicate(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
            _, err = proc.communicate()
        result.counts = {m.group(2): int(m.group(1)) for m in _TCPDUMP_COUNTS.finditer(err or "")}


# --- the run ----------------------------------------------------------------------


REGISTRATIONS = "registrar/contact"  # where PJSIP keeps registered contacts (astdb)


def forget_registrations(sandbox: Any) -> str:
    """Remove every registered contact from the sandbox: PJSIP keeps them in the
    astdb, across restarts, and a seat registered to a bench's SIPp would be
    dialled by the next user of the sandbox (whose seats have static contacts)."""
    return str(sandbox.rx(f"database deltree {REGISTRATIONS}", timeout=10))


@contextmanager
def _forgetting(sandbox: Any, errors: list[str]) -> Iterator[None]:
    try:
        yield
    finally:
        try:
            forget_registrations(sandbox)
        except Exception as exc:  # noqa: BLE001 - a bench reports every failure
            errors.append(f"forgetting the seats' registrations: {type(exc).__name__}: {exc}")


def _wait_members(sandbox: Any, queue: str, wanted: int, timeout_s: float = 30.0) -> int:
    """Wait until `queue` has `wanted` members (the service's queue sync adds them)."""
    deadline = time.monotonic() + timeout_s
    count = 0
    while time.monotonic() < deadline:
        count = sandbox.rx(f"queue show {queue}", timeout=5).count("PJSIP/")
        if count >= wanted:
            break
        time.sleep(0.5)
    return count


def run_media_bench(
    calls: int, config_dir: str | None = None, talk_s: float = 8.0, key_ms: int = KEY_MS
) -> dict[str, Any]:
    """N callers with audio and RFC 2833 keys through the IVR to N seats that talk
    back; the per-direction figures as a dict. Never raises for a failed run: the
    error goes under "errors", next to whatever was measured.

    `key_ms` is how long each caller hears the welcome prompt before its key: a
    long one (up to the 24 s prompt) keeps every caller in the IVR at once, which
    is what the admission limit (admission.max_in_ivr) bounds; the most callers
    that heard the prompt at once is `prompt_to_caller.peak_concurrent`."""
    from ivr.bootstrap import asterisk_settings
    from ivr.bootstrap import config_dir as resolve_config_dir
    from lab.bench.ivr_load import Monitor, _rig, wait_drained  # the rig of `bench ivr`
    from lab.sipp import SharedSeats, run_load

    if not 1 <= calls <= MAX_CALLS:
        raise ValueError(f"calls: {calls} is not between 1 and {MAX_CALLS}")
    if not MIN_KEY_MS <= key_ms <= MAX_KEY_MS:
        raise ValueError(f"key_ms: {key_ms} is not between {MIN_KEY_MS} and {MAX_KEY_MS}")
    caller_s = (key_ms + ROUTE_BUDGET_MS) / 1000 + talk_s
    rate = max(10.0, calls / (caller_s / 2))  # every call starts before the first ends
    result: dict[str, Any] = {
        "calls": calls,
        "settings": {
            "codec": "PCMU (G.711 mu-law), 20 ms",
            "key": KEY,
            "key_ms": key_ms,
            "caller_stream_s": caller_s,
            "seat_talk_s": talk_s,
            "rate_cps": rate,
            "seats": calls + 2,
        },
    }
    errors: list[str] = []
    with tempfile.TemporaryDirectory(prefix="hotline-media-") as tmp:
        work = Path(tmp)
        caller_packets, caller = rtp_packets(CALLER_TAG, caller_s, 440, {key_ms: KEY})
        seat_packets, seat = rtp_packets(SEAT_TAG, talk_s, 620)
        write_pcap(work / "caller.pcap", caller_packets)
        write_pcap(work / "seat.pcap", seat_packets)
        source = Path(resolve_config_dir(config_dir, os.environ))
        cfg = bench_config(source, work / "config", calls + 2)
        try:
            with _rig(str(cfg), 100_000, errors) as rig:
                settings = asterisk_settings(rig.runtime.config)
                rig_cpu0 = _children_cpu_s()
                seats = SharedSeats(
                    settings, processes=SEAT_PROCESSES, ring_ms=200, stream=work / "seat.pcap"
                )
                forget_registrations(rig.sandbox)  # a crashed earlier run's, if any
                with _forgetting(rig.sandbox, errors), seats as pool:
                    members = _wait_members(rig.sandbox, "enquiries", calls + 2)
                    result["queue_members"] = members
                    wait_drained(rig.sandbox)
                    result["load_average_at_start"] = [round(x, 2) for x in os.getloadavg()]
                    with capture(work / "run.pcap") as cap, Monitor(rig.sandbox) as mon:
                        load = run_load(
                            rate,
                            (calls + 0.5) / rate,  # SIPp places int(rate * seconds)
                            "hotline",
                            extension=rig.runtime.config.site.hotline_extension,
                            hold_ms=round(caller_s * 1000) + 1000,
                            caller_prefix="1391000",
                            stream=work / "caller.pcap",
                        )
                    result["left_channels"] = wait_drained(rig.sandbox)
                    seat_calls = len(pool.calls())
                    seat_ports = set(pool.media_ports.values())
                result["rig_cpu_s"] = round(_children_cpu_s() - rig_cpu0, 2)
                result.update(_run_figures(load, mon.figures, calls, seat_calls))
                result["capture"] = cap.counts
                data = (work / "run.pcap").read_bytes()
                result.update(analyse(read_pcap(data), load.media_port, seat_ports, caller, seat))
        except Exception as exc:  # noqa: BLE001 - a bench reports every failure
            errors.append(f"run: {type(exc).__name__}: {exc}")
    if errors:
        result["errors"] = errors
    return result


def _children_cpu_s() -> float:
    """CPU seconds of this process's ended children (SIPp callers and seats, tcpdump)."""
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def _run_figures(load: Any, mon: dict[str, Any], calls: int, seat_calls: int) -> dict[str, Any]:
    cpu = mon.get("asterisk_cpu_s")
    return {
        "placed": load.created,
        "completed": load.completed,
        "failed": load.failed,
        "answered_by_seats": seat_calls,
        "max_channels": mon.get("max_channels"),
        "asterisk_cpu_pct": mon.get("asterisk_cpu_pct"),
        "asterisk_cpu_ms_per_call": round(cpu * 1000 / calls, 1) if cpu is not None else None,
        "hotline_cpu_pct": mon.get("python_cpu_pct"),
        "host_user_pct": mon.get("host_user_pct"),
        "host_system_pct": mon.get("host_system_pct"),
        "host_steal_pct": mon.get("host_steal_pct"),
        "wall_s": mon.get("wall_s"),
    }
