"""The callback dialer's second backend: the same ledger, pacing, calling hours,
do-not-call list and retries, with calls placed through Twilio's Calls API.

One loop, like the Asterisk dialer's (worker.py), without AMI:

1. ask Twilio how each attempt in flight ended (the agent's leg, then the
   customer's) and record the result in the ledger;
2. turn new call-log entries that ask for a callback into requests (intake);
3. claim due requests for free seats (`worker.claim_due`: the same chooser, the
   same token bucket) and create each call, agent first.

Numbers this backend refuses (+86 by default) are never claimed by it: they stay
due for the Asterisk dialer, which rings them through the trunk. Attempts left
open by a previous run of this backend (its SIDs were in memory) are finished as
`unknown` at start: the ledger's retry rules then decide, as for a lost AMI call.
So is an attempt whose end Twilio has not told (its answers unreadable, or a
status that never turns final) by the time the call has surely ended: its rings,
Twilio's time limit sent with the call, and a few minutes (`over_after`).
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from ivr.adapters.twilio.calls import CallbackCall, CallRefusedError, TwilioCalls, TwilioCallsError
from ivr.dialer.intake import CallLogIntake
from ivr.dialer.pacing import TokenBucket
from ivr.dialer.worker import (
    DialerDeps,
    TurnGuard,
    agent_presence,
    claim_due,
    dialer_id,
    finish,
)
from ivr.domain.callbacks import AttemptOutcome
from ivr.domain.privacy import mask_number
from ivr.domain.routing import Presence

log = logging.getLogger(__name__)

NAME_PREFIX = "twilio:"


@dataclass(frozen=True)
class InFlight:
    """A call this dialer created and has not yet seen end."""

    sid: str  # Twilio's call SID
    seat: str
    over_at: float  # monotonic: by then the call has surely ended (CallbackCall.over_after)


@dataclass
class TwilioDialerStats:
    placed: list[str] = field(default_factory=list)  # action ids
    results: dict[str, str] = field(default_factory=dict)  # action id -> outcome
    refused: dict[str, str] = field(default_factory=dict)  # action id -> reason


class TwilioDialer:
    def __init__(
        self,
        deps: DialerDeps,
        calls: TwilioCalls,
        name: str | None = None,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self.deps = deps
        self.monotonic = monotonic
        self.calls = calls
        self.name = name or f"{NAME_PREFIX}{dialer_id()}"
        s = deps.settings.dialer
        self.bucket = TokenBucket(s.originate_rate, s.burst)
        self.inflight: dict[str, InFlight] = {}  # action id -> its call
        self.stats = TwilioDialerStats()
        self.calllog = CallLogIntake(deps.repo, deps.intake, deps.settings.intake)
        self._last_intake = 0.0
        self._stop = threading.Event()
        self._started = False

    def run(self) -> None:
        """Until `stop()`; a failed turn is logged and the next one tries again."""
        guard = TurnGuard("twilio dialer")
        while not self._stop.is_set():
            with guard:
                self.step()
            self._stop.wait(self.deps.settings.dialer.poll_seconds)

    def stop(self) -> None:
        self._stop.set()

    def step(self) -> None:
        if not self._started:
            self._started = True
            self.forget_lost_attempts()
        self.poll()
        now = time.monotonic()
        if now - self._last_intake >= self.deps.settings.intake.scan_seconds:
            self._last_intake = now
            self.calllog.scan(self.deps.clock())
        for claim in claim_due(
            self.deps, self.name, self._presence(), self._busy(), self.calls.settings.refusal
        ):
            self._place(claim.attempt.action_id, claim.attempt.seat, claim.request.number)

    def forget_lost_attempts(self) -> None:
        """Attempts of an earlier run of a Twilio dialer on this host: no SID, so unknown."""
        for attempt, _request in self.deps.repo.open_attempts():
            if attempt.dialer.startswith(NAME_PREFIX) and attempt.action_id not in self.inflight:
                self._finish(attempt.action_id, AttemptOutcome.UNKNOWN, "lost on restart")

    def poll(self) -> None:
        for action, call in list(self.inflight.items()):
            sid = call.sid
            try:
                outcome = self.calls.outcome(sid)
            except TwilioCallsError as e:
                if e.status == 404:  # Twilio has no such call (any more): it cannot end
                    self._finish(action, AttemptOutcome.UNKNOWN, f"twilio {sid}: {e}")
                    continue
                log.warning("callback %s: cannot read call %s: %s", action, sid, e)
                outcome = None
            if outcome is not None:
                self._finish(action, outcome, f"twilio {sid}")
            elif self.monotonic() >= call.over_at:
                self._finish(
                    action, AttemptOutcome.UNKNOWN, f"twilio {sid}: no end read by its time limit"
                )

    def _place(self, action: str, seat: str, number: str) -> None:
        s = self.deps.settings.dialer
        while not self.bucket.take(time.monotonic()):
            time.sleep(self.bucket.wait_time(time.monotonic()))
        call = CallbackCall(action, seat, number, s.agent_ring_seconds, s.customer_ring_seconds)
        try:
            sid = self.calls.place(call)
        except CallRefusedError as e:  # the chooser leaves these; a race with a config change
            self.stats.refused[action] = str(e)
            self._finish(action, AttemptOutcome.AGENT_UNAVAILABLE, f"refused: {e}")
            return
        except TwilioCallsError as e:
            self._finish(action, AttemptOutcome.AGENT_UNAVAILABLE, f"twilio: {e}")
            return
        self.inflight[action] = InFlight(sid, seat, self.monotonic() + call.over_after())
        self.stats.placed.append(action)
        self.deps.repo.mark_sent(action, self.deps.clock())
        log.info("callback %s: Twilio call %s ringing %s for %s", action, sid, seat,
                 mask_number(number))  # fmt: skip

    def _finish(self, action: str, outcome: AttemptOutcome, detail: str) -> None:
        self.inflight.pop(action, None)
        if finish(self.deps, action, outcome, "", detail):
            self.stats.results[action] = outcome.value

    def _busy(self) -> list[str]:
        return [call.seat for call in self.inflight.values()]

    def _presence(self) -> Presence:
        return agent_presence(self.deps.presence, {})  # no AMI: no device states here
