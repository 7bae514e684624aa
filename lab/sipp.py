"""SIPp harness: real SIP calls into the sandbox Asterisk for tests, benches and demos.

- `place_call()` runs one SIPp caller (UAC) that dials the hotline, sends keys
  as RFC 2833 DTMF (pcap files shipped with sip-tester) or SIP INFO, and hangs
  up itself or answers Asterisk's BYE, whichever comes first.
- `SeatPool` runs one SIPp UAS per seat on its static port (seat_port_base + N)
  and tells which seat received which caller; `SharedSeats` has registered
  seats (sip.seat_contacts: register) share a few SIPp processes instead, for
  benches with a hundred seats.
- `Carrier` is one SIPp UAS playing the carrier behind a SIP trunk
  (routing.yaml `trunks:`): it answers every INVITE and tells which numbers were
  dialled through it.
- `run_load()` drives many calls and reads SIPp's -trace_stat CSV.

Scenario XML is rendered (sipp_scenario.py) from lab/scenarios/*.xml
per run into a temporary directory. Caller-supplied values go to SIPp as -key arguments, with
CR/LF removed and SIP-escaped; never through a shell.
"""

from __future__ import annotations

import re
import shutil
import socket
import subprocess
import tempfile
import time
import uuid
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType
from typing import Any, Literal, Self

from ivr.adapters.asterisk.errors import SippError
from ivr.adapters.asterisk.templates import AsteriskSettings, SeatSpec
from lab.sipp_scenario import (
    SCENARIO_DIR as SCENARIO_DIR,  # re-exported: sipp_customers.py renders from it
)
from lab.sipp_scenario import (
    CallPlan,
    DtmfMode,
    SipMessage,
    caller_scenario,
    display_of,
    dtmf_pcaps,
    parse_message_log,
    read_stat_csv,
    seat_scenario,
    sip_display,
    sip_user,
    strip_crlf,
    user_of,
)

DEFAULT_TARGET = "127.0.0.1:5060"
HangupSide = Literal["asterisk", "caller", "none"]


SIPP_BIND_ERROR = 254  # SIPp's exit status when it cannot bind a socket (-2)
BIND_TRIES = 3


def free_udp_port(pair: bool = False) -> int:
    """An unused local UDP port (and port+2 when pair: SIPp's media sockets)."""
    for _ in range(50):
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
            sock.bind(("127.0.0.1", 0))
            port = int(sock.getsockname()[1])
        if not pair or _udp_free(port + 2):
            return port
    raise SippError("no free UDP port on 127.0.0.1")


def _udp_free(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            return False
    return port < 65535


# --- one call ----------------------------------------------------------------------


@dataclass(frozen=True)
class CallResult:
    """The outcome of one SIPp caller run."""

    exit_code: int
    call_id: str
    final_status: int | None
    hung_up_by: HangupSide
    duration_s: float | None
    stats: dict[str, str] = field(repr=False)
    messages: tuple[SipMessage, ...] = field(repr=False, default=())
    stderr: str = field(repr=False, default="")

    @property
    def ok(self) -> bool:
        return self.exit_code == 0 and self.final_status == 200

    def summary(self) -> str:
        """One line for `hotline call`."""
        length = f"{self.duration_s:.1f} s" if self.duration_s is not None else "-"
        return (
            f"call {self.call_id}: {'ok' if self.ok else 'FAILED'}, final status "
            f"{self.final_status or '-'}, hung up by {self.hung_up_by}, {length} "
            f"(sipp exit {self.exit_code})"
        )


def _sipp_binary() -> str:
    path = shutil.which("sipp")
    if path is None:
        raise SippError("sipp not found on PATH (Debian package sip-tester)")
    return path


def _invite_outcome(messages: Sequence[SipMessage]) -> tuple[int | None, float | None]:
    """Final status of our INVITE and when the call was answered."""
    for msg in messages:
        if msg.received and msg.status and msg.status >= 200 and "INVITE" in msg.header("cseq"):
            return msg.status, msg.at
    return None, None


def _hangup_side(messages: Sequence[SipMessage]) -> tuple[HangupSide, float | None]:
    for msg in messages:
        if msg.method == "BYE":
            return ("asterisk" if msg.received else "caller"), msg.at
    return "none", None


def place_call(
    keys: str,
    caller: str,
    *,
    hold_ms: int = 2000,
    hangup_after_ms: int | None = None,
    key_gap_ms: int = 300,
    first_key_delay_ms: int = 1000,
    sip_target: str = DEFAULT_TARGET,
    local_port: int | None = None,
    timeout_s: float = 30.0,
    extension: str = "4000",
    display: str = "",
    dtmf: DtmfMode = "rfc2833",
    survey: str = "",
    survey_delay_ms: int = 0,
    local_ip: str = "127.0.0.1",
    headers: Mapping[str, str] | None = None,
    stream: Path | None = None,
) -> CallResult:
    """Place one call to `extension` at sip_target, send keys, end, report.

    `local_ip` is where the caller sends from (another loopback address plays a
    peer Asterisk identifies by address, such as Twilio); `headers` are extra
    INVITE headers (names of letters and '-', plain values); `stream` is an RTP
    pcap the caller plays from its ACK on (its voice: lab/speech_audio.py).

    After the ACK: wait first_key_delay_ms, send each key key_gap_ms apart, then
    hold hold_ms and hang up (BYE) unless Asterisk hangs up first. With
    hangup_after_ms the caller hangs up that long after the ACK, even mid-menu.
    With `survey`, those keys follow survey_delay_ms after the last menu key (time
    enough for the seat to answer and hang up), then the hold.
    """
    plan = CallPlan(
        keys,
        first_key_delay_ms,
        key_gap_ms,
        hold_ms,
        hangup_after_ms,
        dtmf,
        survey,
        survey_delay_ms,
    )
    call_tag = uuid.uuid4().hex[:16]
    with tempfile.TemporaryDirectory(prefix="hotline-sipp-") as tmp:
        work = Path(tmp)
        scenario = work / "caller.xml"
        pcaps = dtmf_pcaps(plan.all_keys, work) if dtmf == "rfc2833" else []
        xml = with_headers(caller_scenario(plan, extension, pcaps, stream), headers or {})
        scenario.write_text(xml, encoding="utf-8")

        def args() -> list[str]:
            return [
                _sipp_binary(), "-sf", str(scenario), "-m", "1", "-l", "1",
                "-i", _plain_ip(local_ip), "-p", str(local_port or free_udp_port()),
                "-mi", _plain_ip(local_ip), "-mp", str(free_udp_port(pair=True)),
                "-key", "caller", sip_user(caller), "-key", "display", sip_display(display),
                "-cid_str", f"{call_tag}-%u@hotline",
                "-nostdin", "-timeout", f"{int(timeout_s)}s", "-timeout_error",
                "-trace_msg", "-message_file", str(work / "messages.log"),
                "-trace_stat", "-stf", str(work / "stat.csv"),
                strip_crlf(sip_target),
            ]  # fmt: skip

        proc = _run_sipp_on_free_ports(args, work, timeout_s + 10, tries=1 if local_port else None)
        messages = parse_message_log(_read(work / "messages.log"))
        stats = read_stat_csv(work / "stat.csv")
    status, answered_at = _invite_outcome(messages)
    side, bye_at = _hangup_side(messages)
    duration = bye_at - answered_at if answered_at and bye_at else None
    return CallResult(
        exit_code=proc.returncode,
        call_id=f"{call_tag}-1@hotline",
        final_status=status,
        hung_up_by=side,
        duration_s=duration,
        stats=stats,
        messages=tuple(messages),
        stderr=proc.stderr[-2000:],
    )


_HEADER_NAME = re.compile(r"[A-Za-z][A-Za-z-]{0,63}")
_HEADER_VALUE = re.compile(r"[A-Za-z0-9._@:+-]{0,200}")


def with_headers(xml: str, headers: Mapping[str, str]) -> str:
    """The caller scenario with extra headers in its INVITE (after User-Agent)."""
    lines = []
    for name, value in headers.items():
        if not _HEADER_NAME.fullmatch(name) or not _HEADER_VALUE.fullmatch(value):
            raise SippError(f"header {name[:40]!r}: not a plain SIP header for a test caller")
        lines.append(f"      {name}: {value}\n")
    marker = "      User-Agent: hotline-sipp-caller\n"
    if marker not in xml:
        raise SippError("caller scenario without its User-Agent line")
    return xml.replace(marker, marker + "".join(lines), 1)


def _plain_ip(ip: str) -> str:
    import ipaddress

    try:
        return str(ipaddress.ip_address(ip))
    except ValueError:
        raise SippError(f"{ip[:40]!r} is not an IP address") from None


def _read(path: Path) -> str:
    try:
        return path.read_text(encoding="utf-8", errors="replace")
    except OSError:
        return ""


def _run_sipp(args: list[str], cwd: Path, timeout_s: float) -> subprocess.CompletedProcess[str]:
    try:
        return subprocess.run(
            args, cwd=cwd, capture_output=True, text=True, timeout=timeout_s, check=False,
            stdin=subprocess.DEVNULL,
        )  # fmt: skip
    except subprocess.TimeoutExpired as exc:
        raise SippError(f"sipp did not finish within {timeout_s:.0f} s: {' '.join(args)}") from exc
    except OSError as exc:
        raise SippError(f"cannot run sipp: {exc}") from exc


def _run_sipp_on_free_ports(
    args: Callable[[], list[str]], cwd: Path, timeout_s: float, tries: int | None = None
) -> subprocess.CompletedProcess[str]:
    """Run SIPp with `args()`, which chooses its ports. They were free when chosen, but
    another process may bind one before SIPp does: SIPp then exits SIPP_BIND_ERROR
    before sending anything, and runs again on ports chosen again (BIND_TRIES in all)."""
    for _ in range(tries or BIND_TRIES):
        proc = _run_sipp(args(), cwd, timeout_s)
        if proc.returncode != SIPP_BIND_ERROR:
            break
    return proc


# --- seats -------------------------------------------------------------------------


@dataclass(frozen=True)
class SeatCall:
    """One INVITE received by a seat."""

    seat: str
    caller: str
    display: str
    call_id: str
    at: float | None


class SippProcesses:
    """Long-running SIPp processes (UAS) sharing one work directory; a context manager
    that stops them all. Subclasses say what to launch in `_launch()`."""

    prefix = "hotline-sipp-"
    what = "SIPp"

    def __init__(self) -> None:
        self._tmp: tempfile.TemporaryDirectory[str] | None = None
        self._procs: dict[str, subprocess.Popen[bytes]] = {}

    def __enter__(self) -> Self:
        self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    @property
    def work_dir(self) -> Path:
        if self._tmp is None:
            raise SippError(f"{self.what} not started")
        return Path(self._tmp.name)

    def start(self) -> None:
        """Launch; a process that could not bind a port chosen free (another process
        took it first: SIPp exits 254 at once) has everything launched again on ports
        chosen again, up to BIND_TRIES times, as `place_call` does."""
        for attempt in range(1, BIND_TRIES + 1):
            self._tmp = tempfile.TemporaryDirectory(prefix=self.prefix)
            try:
                self._launch()
                time.sleep(0.2)
                dead = {n: p.returncode for n, p in self._procs.items() if p.poll() is not None}
                if not dead:
                    return
                if attempt < BIND_TRIES and set(dead.values()) == {SIPP_BIND_ERROR}:
                    self.stop()
                    continue
                raise SippError(f"{self.what} exited at start: {', '.join(dead)} (port in use?)")
            except BaseException:
                self.stop()
                raise

    def _launch(self) -> None:
        raise NotImplementedError

    def _spawn(self, name: str, args: list[str], where: str) -> None:
        try:
            self._procs[name] = subprocess.Popen(
                args, cwd=self.work_dir, stdin=subprocess.DEVNULL,
                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
            )  # fmt: skip
        except OSError as exc:
            raise SippError(f"cannot start {self.what} {name} on {where}: {exc}") from exc

    def stop(self) -> None:
        for proc in self._procs.values():
            if proc.poll() is None:
                proc.terminate()
        for proc in self._procs.values():
            try:
                proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(timeout=5)
        self._procs.clear()
        if self._tmp is not None:
            self._tmp.cleanup()
            self._tmp = None


class SeatPool(SippProcesses):
    """One SIPp UAS per seat on its static port; a context manager.

    >>> with SeatPool(settings) as pool:          # doctest: +SKIP
    ...     place_call("1", "13800000001")
    ...     pool.wait_for_call("13800000001")     # -> SeatCall(seat='seat3', ...)
    """

    prefix = "hotline-seats-"
    what = "seat SIPp"

    def __init__(
        self,
        settings: AsteriskSettings,
        *,
        seats: Sequence[str] | None = None,
        ring_ms: int = 200,
        hold_ms: int | None = None,
        stream: Path | None = None,
    ) -> None:
        super().__init__()
        wanted = set(seats) if seats is not None else None
        self.settings = settings
        self.seats: tuple[SeatSpec, ...] = tuple(
            s for s in settings.seats if wanted is None or s.name in wanted
        )
        self.ring_ms = ring_ms
        self.hold_ms = hold_ms
        self.stream = stream  # an RTP pcap each seat plays from its ACK on
        self.media_ports: dict[str, int] = {}  # seat -> its SIPp media (RTP) port

    def _launch(self) -> None:
        scenario = self.work_dir / "seat.xml"
        scenario.write_text(
            seat_scenario(self.ring_ms, self.hold_ms, self.stream), encoding="utf-8"
        )
        taken: set[int] = set()  # SIPp binds -mp and -mp + 2: no two seats may share one
        for seat in self.seats:
            port = self.settings.seat_port(seat)
            media_port = free_udp_port(pair=True)
            for _ in range(50):
                if not {media_port, media_port + 2} & taken:
                    break
                media_port = free_udp_port(pair=True)
            taken |= {media_port, media_port + 2}
            self.media_ports[seat.name] = media_port
            args = [
                _sipp_binary(), "-sf", str(scenario), "-i", self.settings.sip_host,
                "-p", str(port), "-mi", self.settings.sip_host,
                "-mp", str(media_port),
                "-nostdin", "-trace_msg", "-message_file", str(self._log(seat.name)),
                "-trace_stat", "-stf", str(self.work_dir / f"{seat.name}.csv"),
            ]  # fmt: skip
            self._spawn(seat.name, args, f"port {port}")

    def _log(self, seat: str) -> Path:
        return self.work_dir / f"{seat}.messages.log"

    def calls(self) -> list[SeatCall]:
        """Every INVITE the seats have received so far, in time order."""
        found = []
        for seat in self.seats:
            for msg in parse_message_log(_read(self._log(seat.name))):
                if msg.received and msg.method == "INVITE":
                    found.append(
                        SeatCall(
                            seat=seat.name,
                            caller=user_of(msg.header("from")),
                            display=display_of(msg.header("from")),
                            call_id=msg.header("call-id"),
                            at=msg.at,
                        )
                    )
        return sorted(found, key=lambda c: c.at or 0.0)

    def seat_of(self, caller: str) -> str | None:
        """The seat that received the first call from this caller number."""
        for call in self.calls():
            if call.caller == caller:
                return call.seat
        return None

    def wait_for_call(self, caller: str, timeout_s: float = 10.0) -> SeatCall:
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            for call in self.calls():
                if call.caller == caller:
                    return call
            time.sleep(0.1)
        raise SippError(f"no seat received a call from {caller!r} within {timeout_s:.0f} s")


@dataclass(frozen=True)
class CarrierCall:
    """One INVITE the carrier received: the number dialled (the Request-URI's user)."""

    number: str
    caller: str
    call_id: str
    at: float | None


_REQUEST_USER = re.compile(r"^INVITE sips?:([^@;> ]+)@")


class Carrier(SippProcesses):
    """A SIPp UAS on `host:port` playing the carrier behind a SIP trunk: it rings for
    `ring_ms`, answers and holds until Asterisk hangs up (or `hold_ms`).

    >>> with Carrier("127.0.0.1", 5070) as carrier:        # doctest: +SKIP
    ...     carrier.wait_for_call("+8613700000009")        # -> CarrierCall(...)
    """

    prefix = "hotline-carrier-"
    what = "carrier SIPp"

    def __init__(
        self, host: str, port: int, *, ring_ms: int = 300, hold_ms: int | None = None
    ) -> None:
        super().__init__()
        self.host, self.port = host, port
        self.ring_ms, self.hold_ms = ring_ms, hold_ms

    def _launch(self) -> None:
        scenario = self.work_dir / "carrier.xml"
        scenario.write_text(seat_scenario(self.ring_ms, self.hold_ms), encoding="utf-8")
        args = [
            _sipp_binary(), "-sf", str(scenario), "-i", self.host, "-p", str(self.port),
            "-mi", self.host, "-mp", str(free_udp_port(pair=True)),
            "-nostdin", "-trace_msg", "-message_file", str(self.work_dir / "carrier.log"),
        ]  # fmt: skip
        self._spawn("carrier", args, f"{self.host}:{self.port}")

    def calls(self) -> list[CarrierCall]:
        """Every INVITE received so far, in time order."""
        found = []
        for msg in parse_message_log(_read(self.work_dir / "carrier.log")):
            if msg.received and msg.method == "INVITE":
                match = _REQUEST_USER.match(msg.first_line)
                found.append(
                    CarrierCall(
                        number=match.group(1) if match else "",
                        caller=user_of(msg.header("from")),
                        call_id=msg.header("call-id"),
                        at=msg.at,
                    )
                )
        return sorted(found, key=lambda c: c.at or 0.0)

    def wait_for_call(self, number: str, timeout_s: float = 10.0) -> CarrierCall:
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            for call in self.calls():
                if call.number == number:
                    return call
            time.sleep(0.1)
        raise SippError(f"the carrier received no call to {number!r} within {timeout_s:.0f} s")


class SharedSeats(SeatPool):
    """Seats that register (sip.seat_contacts: register), served by `processes`
    SIPp UAS processes: seat i's Contact is the port of process i mod processes.

    Queues still ring a seat in use no more (each seat is its own endpoint), but
    a hundred seats no longer need a hundred SIPp processes, each of which polls
    every millisecond even when idle (a bench's rig would cost more CPU than
    the Asterisk it measures)."""

    prefix = "hotline-shared-seats-"
    what = "shared seat SIPp"

    def __init__(self, settings: AsteriskSettings, *, processes: int = 4, **kwargs: Any) -> None:
        super().__init__(settings, **kwargs)
        if settings.seat_contacts != "register":
            raise SippError("shared seats need sip.seat_contacts: register")
        self.processes = max(1, min(processes, len(self.seats)))
        self.sip_ports: list[int] = []

    def _launch(self) -> None:
        scenario = self.work_dir / "seat.xml"
        scenario.write_text(
            seat_scenario(self.ring_ms, self.hold_ms, self.stream), encoding="utf-8"
        )
        taken: set[int] = set()
        self.sip_ports = []  # chosen again when a start is tried again
        for n in range(self.processes):
            port = free_udp_port()
            media_port = free_udp_port(pair=True)
            for _ in range(50):
                if not {port, media_port, media_port + 2} & taken:
                    break
                port, media_port = free_udp_port(), free_udp_port(pair=True)
            taken |= {port, media_port, media_port + 2}
            self.sip_ports.append(port)
            self.media_ports[f"uas{n}"] = media_port
            args = [
                _sipp_binary(), "-sf", str(scenario), "-i", self.settings.sip_host,
                "-p", str(port), "-mi", self.settings.sip_host, "-mp", str(media_port),
                "-nostdin", "-trace_msg", "-message_file", str(self._log(f"uas{n}")),
            ]  # fmt: skip
            self._spawn(f"uas{n}", args, f"port {port}")
        time.sleep(0.2)
        self._register()

    def _register(self) -> None:
        password = self.settings.seat_password
        if not password or any(c in password for c in ';[]"\\ \t\r\n'):
            raise SippError(
                "the seat password is empty or holds ';', brackets, quotes, backslashes or spaces"
            )
        # SIPp expands [authentication ...] from an injection field, not with a
        # field inside it: the whole keyword is the field. Values are quoted: SIPp
        # reads an unquoted one that starts with 0x as hex (one generated password
        # in 4,096 did, and no seat registered).
        lines = ["SEQUENTIAL"] + [
            f'{seat.name};[authentication username="{seat.name}" password="{password}"];'
            f"{self.sip_ports[i % self.processes]}"
            for i, seat in enumerate(self.seats)
        ]
        work = self.work_dir
        (work / "seats.csv").write_text("\n".join(lines) + "\n", encoding="utf-8")
        (work / "register.xml").write_text(
            (SCENARIO_DIR / "register.xml").read_text(encoding="utf-8"), encoding="utf-8"
        )
        total = len(self.seats)
        settings = self.settings

        def args() -> list[str]:
            return [
                _sipp_binary(), "-sf", str(work / "register.xml"),
                "-inf", str(work / "seats.csv"), "-m", str(total), "-r", "100",
                "-l", str(total), "-i", settings.sip_host, "-p", str(free_udp_port()),
                "-nostdin", "-timeout", "30s", "-timeout_error",
                "-trace_stat", "-stf", str(work / "register.csv"),
                "-trace_msg", "-message_file", str(work / "register.log"),
                f"{settings.sip_host}:{settings.sip_port}",
            ]  # fmt: skip

        proc = _run_sipp_on_free_ports(args, work, 40)
        done = stat_count(read_stat_csv(work / "register.csv"), "SuccessfulCall(C)")
        if proc.returncode != 0 or done != total:
            answers = [m.first_line for m in parse_message_log(_read(work / "register.log"))]
            raise SippError(
                f"{done} of {total} seats registered (sipp exit {proc.returncode}):"
                f" {proc.stderr[-300:]} messages: {answers[:6]}"
            )

    def calls(self) -> list[SeatCall]:
        """Every INVITE the seats have received so far, in time order (the seat is
        the Request-URI's user)."""
        found = []
        for n in range(self.processes):
            for msg in parse_message_log(_read(self._log(f"uas{n}"))):
                if msg.received and msg.method == "INVITE":
                    found.append(
                        SeatCall(
                            seat=user_of(msg.first_line),
                            caller=user_of(msg.header("from")),
                            display=display_of(msg.header("from")),
                            call_id=msg.header("call-id"),
                            at=msg.at,
                        )
                    )
        return sorted(found, key=lambda c: c.at or 0.0)


# --- load -----------------------------------------------------------------------


@dataclass(frozen=True)
class LoadResult:
    """Counts from SIPp's -trace_stat CSV after a load run."""

    exit_code: int
    completed: int
    failed: int
    created: int
    stats: dict[str, str]
    media_port: int = 0  # the callers' SIPp media (RTP) port


def stat_count(stats: dict[str, str], column: str) -> int:
    """One counter of a SIPp -trace_stat row (0 when missing or not a number)."""
    try:
        return int(stats.get(column, "0") or 0)
    except ValueError:
        return 0


LoadMedia = Literal["sendrecv", "inactive", "hold"]


def _load_sdp(xml: str, media: LoadMedia) -> str:
    """The load caller's SDP offer for media mode `media` (see run_load)."""
    if media == "sendrecv":
        return xml
    if media not in ("inactive", "hold"):
        raise SippError(f"unknown load media mode {media!r}")
    xml = xml.replace("a=sendrecv", "a=inactive")
    if media == "hold":
        xml = xml.replace("c=IN IP[media_ip_type] [media_ip]", "c=IN IP4 0.0.0.0")
    return xml


def run_load(
    rate: float,
    seconds: float,
    scenario: Literal["baseline", "hotline"] = "baseline",
    *,
    keys: str = "1",
    caller_prefix: str = "1390000",
    hold_ms: int = 3000,
    key_gap_ms: int = 300,
    first_key_delay_ms: int = 500,
    extension: str | None = None,
    sip_target: str = DEFAULT_TARGET,
    max_concurrent: int = 5000,
    media: LoadMedia = "sendrecv",
    stream: Path | None = None,
) -> LoadResult:
    """Drive rate calls/s for seconds. "baseline": the bare Answer/Wait/Hangup
    extension (4999, Asterisk hangs up); "hotline": the hotline extension with
    keys as SIP INFO (signalling only). Returns completed/failed counts.

    media is the callers' SDP offer: "sendrecv" (Asterisk streams its prompts
    as RTP to SIPp), "inactive" (a=inactive: no RTP either way, the prompts
    still run on Asterisk's side) or "hold" (c=0.0.0.0 and a=inactive).

    With `stream` (an RTP pcap: audio, and the keys as RFC 2833 inside it) each
    caller plays it from the ACK on instead of sending keys as SIP INFO, and
    hangs up hold_ms after the ACK; the callers' media port is in the result."""
    total = max(1, int(rate * seconds))
    exten = extension or ("4999" if scenario == "baseline" else "4000")
    if stream is None:
        plan = CallPlan(
            keys if scenario == "hotline" else "",
            first_key_delay_ms, key_gap_ms, hold_ms, None, "info",
        )  # fmt: skip
    else:
        plan = CallPlan("", 0, key_gap_ms, hold_ms, None, "rfc2833")
    media_ports: list[int] = []
    with tempfile.TemporaryDirectory(prefix="hotline-load-") as tmp:
        work = Path(tmp)
        xml = caller_scenario(plan, exten, stream=stream)
        xml = xml.replace("<sip:[caller]@", "<sip:[caller][call_number]@")
        xml = _load_sdp(xml, media)
        (work / "load.xml").write_text(xml, encoding="utf-8")

        def args() -> list[str]:
            media_ports.append(free_udp_port(pair=True))
            return [
                _sipp_binary(), "-sf", str(work / "load.xml"), "-r", f"{rate:g}",
                "-m", str(total), "-l", str(max_concurrent),
                "-i", "127.0.0.1", "-p", str(free_udp_port()),
                "-mi", "127.0.0.1", "-mp", str(media_ports[-1]),
                "-key", "caller", sip_user(caller_prefix), "-key", "display", "load",
                "-nostdin", "-trace_stat", "-stf", str(work / "stat.csv"), "-fd", "1",
                # SIPp ends itself (and writes its stats) before we would kill it
                "-timeout", f"{int(seconds + hold_ms / 1000 + 45)}s",
                strip_crlf(sip_target),
            ]  # fmt: skip

        proc = _run_sipp_on_free_ports(args, work, seconds + hold_ms / 1000 + 60)
        stats = read_stat_csv(work / "stat.csv")
    return LoadResult(
        exit_code=proc.returncode,
        completed=stat_count(stats, "SuccessfulCall(C)"),
        failed=stat_count(stats, "FailedCall(C)"),
        created=stat_count(stats, "TotalCallCreated"),
        stats=stats,
        media_port=media_ports[-1],
    )
