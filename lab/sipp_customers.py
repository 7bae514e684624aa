"""SIPp as the customers the dialer calls back: one UAS behind the `customers` trunk.

What a customer does depends on the end of the dialled number (see
sipp/callback_customer.xml): ...486 busy, ...408 never answers, ...603
declines, anything else answers and talks for `hold_ms`. `invites()` tells
which numbers were rung and how often: the duplicate-dial check.
"""

from __future__ import annotations

import re
import time
from collections import Counter
from dataclasses import dataclass

from ivr.adapters.asterisk.errors import SippError
from ivr.adapters.asterisk.templates import ConfTemplate
from lab.sipp import SippProcesses, _read, _sipp_binary, free_udp_port
from lab.sipp_scenario import SCENARIO_DIR, parse_message_log

BUSY, NEVER_ANSWERS, DECLINES = "486", "408", "603"
_URI_USER = re.compile(r"^INVITE sips?:([^@ ]+)@")


def customer_scenario(ring_ms: int, hold_ms: int) -> str:
    template = (SCENARIO_DIR / "callback_customer.xml").read_text(encoding="utf-8")
    return ConfTemplate(template).substitute(ring_ms=str(max(ring_ms, 1)), hold_ms=str(hold_ms))


@dataclass(frozen=True)
class CustomerInvite:
    number: str
    call_id: str
    at: float | None


class CustomerPhones(SippProcesses):
    """A SIPp UAS at host:port answering (or not) as each number says; a context manager."""

    prefix = "hotline-customers-"
    what = "customer SIPp"

    def __init__(
        self, host: str = "127.0.0.1", port: int = 5080, *, ring_ms: int = 200, hold_ms: int = 1500
    ) -> None:
        super().__init__()
        self.host, self.port, self.ring_ms, self.hold_ms = host, port, ring_ms, hold_ms

    def _launch(self) -> None:
        scenario = self.work_dir / "customer.xml"
        scenario.write_text(customer_scenario(self.ring_ms, self.hold_ms), encoding="utf-8")
        args = [
            _sipp_binary(), "-sf", str(scenario), "-i", self.host, "-p", str(self.port),
            "-mi", self.host, "-mp", str(free_udp_port(pair=True)), "-nostdin",
            "-trace_msg", "-message_file", str(self.work_dir / "messages.log"),
            "-trace_err", "-error_file", str(self.work_dir / "errors.log"),
        ]  # fmt: skip
        self._spawn("customers", args, f"port {self.port}")

    def invites(self) -> list[CustomerInvite]:
        """Every new INVITE received (retransmissions of one call counted once)."""
        seen: set[str] = set()
        out = []
        for msg in parse_message_log(_read(self.work_dir / "messages.log")):
            if not (msg.received and msg.method == "INVITE"):
                continue
            call_id = msg.header("call-id")
            match = _URI_USER.match(msg.first_line)
            if call_id in seen or match is None:
                continue
            seen.add(call_id)
            out.append(CustomerInvite(match.group(1), call_id, msg.at))
        return out

    def dial_counts(self) -> Counter[str]:
        return Counter(i.number for i in self.invites())

    def wait_for(self, number: str, count: int = 1, timeout_s: float = 20.0) -> int:
        """Wait until `number` was rung `count` times; returns how often it was."""
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            n = self.dial_counts()[number]
            if n >= count:
                return n
            time.sleep(0.1)
        raise SippError(f"{number!r} rung {self.dial_counts()[number]} times, not {count}")
