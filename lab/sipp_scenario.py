"""SIPp scenarios and logs, without I/O on the network: pure functions.

Rendering of the caller (UAC) and seat (UAS) scenario XML from
lab/scenarios/*.xml, the per-call RFC 2833 DTMF pcaps, escaping
of caller-supplied values, and parsing of SIPp's -message_file and -trace_stat
output. lab/sipp.py runs SIPp with them.
"""

from __future__ import annotations

import csv
import re
import struct
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Literal
from urllib.parse import quote

from ivr.adapters.asterisk.errors import SippError
from ivr.adapters.asterisk.templates import ConfTemplate

SCENARIO_DIR = Path(__file__).resolve().parent / "scenarios"
PCAP_DIR = Path("/usr/share/sip-tester")
PCAP_NAMES = {**{str(d): str(d) for d in range(10)}, "*": "star", "#": "pound"}
DTMF_PCAP_MS = 140  # length of each dtmf_2833_<k>.pcap
DtmfMode = Literal["rfc2833", "info"]


# --- values ------------------------------------------------------------------


def strip_crlf(value: str) -> str:
    return value.replace("\r", "").replace("\n", "")


def sip_user(value: str) -> str:
    """A caller number as a SIP URI user part: CR/LF dropped, the rest escaped."""
    return quote(strip_crlf(value), safe="+-_.!~*'()&=$,;?/") or "anonymous"


def sip_display(value: str) -> str:
    """The body of a SIP quoted-string display name (backslash and quote escaped)."""
    return strip_crlf(value).replace("\\", "\\\\").replace('"', '\\"')


def check_keys(keys: str) -> str:
    """Keys a caller may press: 0-9, * and #."""
    bad = [k for k in keys if k not in PCAP_NAMES]
    if bad:
        raise SippError(f"keys {keys!r}: cannot send {''.join(bad)!r} as DTMF")
    return keys


# --- scenario rendering (pure) ------------------------------------------------


def _wait(ms: int, label: str) -> str:
    """Wait ms for the next step, answering a BYE from Asterisk if one comes."""
    return (
        f'  <recv request="BYE" timeout="{max(ms, 1)}" ontimeout="{label}" next="remote_bye"/>\n'
        f'  <label id="{label}"/>\n'
    )


def _rfc2833_key(pcap: Path) -> str:
    return f'  <nop><action><exec play_pcap_audio="{pcap}"/></action></nop>\n'


def _renumber_rtp(pcap: bytes, seq_base: int, ts: int) -> bytes:
    """Rewrite the RTP sequence numbers and timestamp of a sip-tester DTMF pcap.

    The shipped dtmf_2833_<k>.pcap files come from one capture: their sequence
    numbers and timestamps grow with the digit, so "4" then "2" looks like a
    reordered old packet to Asterisk and the "2" is dropped. Each key of a call
    gets fresh, increasing numbers instead. UDP checksums are zeroed (valid for
    IPv4; SIPp sends the payload from its own socket anyway).
    """
    out = bytearray(pcap[:24])
    offset, first_seq = 24, None
    while offset + 16 <= len(pcap):
        incl = struct.unpack_from("<I", pcap, offset + 8)[0]
        packet = bytearray(pcap[offset + 16 : offset + 16 + incl])
        ip = 14
        udp = ip + (packet[ip] & 0x0F) * 4
        rtp = udp + 8
        seq = struct.unpack_from(">H", packet, rtp + 2)[0]
        first_seq = seq if first_seq is None else first_seq
        struct.pack_into(">H", packet, udp + 6, 0)
        struct.pack_into(">HI", packet, rtp + 2, (seq_base + seq - first_seq) & 0xFFFF, ts)
        out += pcap[offset : offset + 16] + packet
        offset += 16 + incl
    return bytes(out)


def dtmf_pcaps(keys: str, directory: Path) -> list[Path]:
    """One pcap per key with increasing RTP sequence numbers and timestamps."""
    paths = []
    for index, key in enumerate(check_keys(keys)):
        source = PCAP_DIR / f"dtmf_2833_{PCAP_NAMES[key]}.pcap"
        try:
            data = source.read_bytes()
        except OSError as exc:
            raise SippError(f"cannot read {source} (package sip-tester): {exc}") from exc
        target = directory / f"dtmf_{index:02d}_{PCAP_NAMES[key]}.pcap"
        target.write_bytes(_renumber_rtp(data, 1000 + index * 16, 8000 + index * 16000))
        paths.append(target)
    return paths


def _info_key(key: str, cseq: int) -> str:
    return f"""  <send retrans="500">
    <![CDATA[
      INFO [next_url] SIP/2.0
      Via: SIP/2.0/[transport] [local_ip]:[local_port];branch=[branch]
      From: "[display]" <sip:[caller]@[local_ip]:[local_port]>;tag=[pid]SIPpTag00[call_number]
      [last_To:]
      Call-ID: [call_id]
      CSeq: {cseq} INFO
      Contact: <sip:[caller]@[local_ip]:[local_port]>
      Max-Forwards: 70
      Content-Type: application/dtmf-relay
      Content-Length: [len]

      Signal={key}
      Duration=160
    ]]>
  </send>
  <recv request="BYE" optional="true" next="remote_bye"/>
  <recv response="200"/>
"""


@dataclass(frozen=True)
class CallPlan:
    """When each key is sent and when the call ends, in ms after the ACK."""

    keys: str
    first_key_delay_ms: int = 1000
    key_gap_ms: int = 300
    hold_ms: int = 2000
    hangup_after_ms: int | None = None
    dtmf: DtmfMode = "rfc2833"
    survey: str = ""  # keys for the survey, sent survey_delay_ms after the last menu key
    survey_delay_ms: int = 0

    @property
    def all_keys(self) -> str:
        return self.keys + self.survey


def caller_steps(plan: CallPlan, pcaps: Sequence[Path] = ()) -> tuple[str, int]:
    """The XML between ACK and the local BYE, and the CSeq the BYE must use.

    For RFC 2833, pcaps holds one file per key (see dtmf_pcaps)."""
    keys = check_keys(plan.all_keys)
    if plan.dtmf == "rfc2833" and len(pcaps) != len(keys):
        pcaps = [PCAP_DIR / f"dtmf_2833_{PCAP_NAMES[k]}.pcap" for k in keys]
    budget = plan.hangup_after_ms
    parts: list[str] = []
    elapsed, cseq = 0, 2

    def wait(ms: int) -> bool:
        nonlocal elapsed
        if budget is not None:
            ms = min(ms, budget - elapsed)
        if ms > 0:
            parts.append(_wait(ms, f"w{len(parts)}"))
            elapsed += ms
        return budget is None or elapsed < budget

    going = wait(plan.first_key_delay_ms)
    for index, key in enumerate(keys):
        if index == len(plan.keys) and going:  # the seat has hung up by now: the survey
            going = wait(plan.survey_delay_ms)
        if not going:
            break
        if plan.dtmf == "info":
            parts.append(_info_key(key, cseq))
            cseq += 1
        else:
            parts.append(_rfc2833_key(pcaps[index]))
        going = wait(max(plan.key_gap_ms, DTMF_PCAP_MS + 20))
    if budget is None:
        wait(plan.hold_ms)
    elif going:
        wait(budget - elapsed)
    return "".join(parts), cseq


def caller_scenario(
    plan: CallPlan, remote_user: str, pcaps: Sequence[Path] = (), stream: Path | None = None
) -> str:
    """The caller's XML; with `stream`, it starts playing that RTP pcap (audio, and
    any RFC 2833 keys inside it) at the ACK, while the plan's steps run."""
    steps, bye_cseq = caller_steps(plan, pcaps)
    if stream is not None:
        steps = _rfc2833_key(stream) + steps
    template = (SCENARIO_DIR / "caller.xml").read_text(encoding="utf-8")
    return ConfTemplate(template).substitute(
        steps=steps, bye_cseq=str(bye_cseq), remote_user=sip_user(remote_user)
    )


def seat_scenario(ring_ms: int, hold_ms: int | None, stream: Path | None = None) -> str:
    """The seat's XML; with `stream`, it plays that RTP pcap from its ACK on."""
    template = (SCENARIO_DIR / "seat.xml").read_text(encoding="utf-8")
    hold = hold_ms if hold_ms is not None else 3_600_000
    return ConfTemplate(template).substitute(
        ring_ms=str(max(ring_ms, 1)),
        hold_ms=str(hold),
        media=_rfc2833_key(stream) if stream is not None else "",
    )


# --- SIPp message log parsing (pure) -------------------------------------------


@dataclass(frozen=True)
class SipMessage:
    """One message from a SIPp -message_file: direction, first line, headers, time."""

    received: bool
    first_line: str
    headers: dict[str, str]
    at: float | None

    @property
    def status(self) -> int | None:
        match = re.match(r"SIP/2\.0 (\d{3})", self.first_line)
        return int(match.group(1)) if match else None

    @property
    def method(self) -> str | None:
        return None if self.first_line.startswith("SIP/2.0") else self.first_line.split(" ")[0]

    def header(self, name: str) -> str:
        return self.headers.get(name.lower(), "")


_BLOCK_RE = re.compile(
    r"^-{5,} (?P<stamp>[^\n]*)\n(?P<kind>UDP message (?:received|sent))[^\n]*\n\n"
    r"(?P<body>.*?)(?=^-{5,} |\Z)",
    re.M | re.S,
)
_STAMP_FORMAT = "%Y-%m-%d %H:%M:%S.%f"


def _stamp(text: str) -> float | None:
    """SIPp's local wall-clock stamp (2026-11-23 00:33:35.085707) as epoch seconds."""
    try:
        return datetime.strptime(text.strip(), _STAMP_FORMAT).timestamp()
    except ValueError:
        return None


def parse_message_log(text: str) -> list[SipMessage]:
    """Split SIPp's -message_file into messages. Real input looks like:

    ----------------------------------------------- 2026-11-23 00:33:35.087105
    UDP message received [258] bytes :

    SIP/2.0 200 OK
    Via: ...
    """
    messages = []
    for match in _BLOCK_RE.finditer(text):
        lines = match.group("body").strip("\n").splitlines()
        if not lines:
            continue
        headers: dict[str, str] = {}
        for line in lines[1:]:
            if not line.strip():
                break
            name, _, value = line.partition(":")
            headers.setdefault(name.strip().lower(), value.strip())
        messages.append(
            SipMessage(
                received=match.group("kind").endswith("received"),
                first_line=lines[0].strip(),
                headers=headers,
                at=_stamp(match.group("stamp")),
            )
        )
    return messages


def user_of(header_value: str) -> str:
    """The user part of the URI in a From/To header value."""
    match = re.search(r"sips?:([^@;>]+)@", header_value)
    return match.group(1) if match else ""


def display_of(header_value: str) -> str:
    match = re.match(r'\s*"((?:[^"\\]|\\.)*)"', header_value)
    return match.group(1) if match else ""


def read_stat_csv(path: Path) -> dict[str, str]:
    """The last row of a SIPp -trace_stat CSV as {column: value}."""
    try:
        rows = list(csv.reader(path.read_text(encoding="utf-8").splitlines(), delimiter=";"))
    except OSError:
        return {}
    if len(rows) < 2:
        return {}
    return {k: v for k, v in zip(rows[0], rows[-1], strict=False) if k}
