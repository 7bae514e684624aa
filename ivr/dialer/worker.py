"""The callback dialer: progressive, paced, agent first, restart-safe.

One loop, one thread (AMI events are queued by the link's reader thread):

1. apply queued AMI events: customer connected, attempt ended (the dialplan's
   UserEvent), agent leg failed (OriginateResponse), seat device states;
2. after every (re)connect, and every `reconcile_seconds`, reconcile attempts
   left without a result: still a channel with their AccountCode -> in flight;
   else the last status the dialplan left in AstDB decides (CONNECTED/ANSWER ->
   completed, never dialled again; nothing -> the customer was never rung);
3. turn new call-log entries that ask for a callback into requests (intake);
4. claim due requests, at most one per free agent with the skill, at most the
   token bucket's rate, and Originate each (Async) to the agent's seat.

Claims and results go through `CallbackRepo`, whose transactions make a
second dialer or a restarted one unable to dial a request twice.
"""

from __future__ import annotations

import logging
import os
import queue
import socket
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import timedelta
from types import TracebackType

from ivr.adapters.db.callbacks import CallbackRepo, Claim
from ivr.adapters.db.presence import PresenceRepo
from ivr.app.callbacks import CallbackIntake
from ivr.app.ports import Clock
from ivr.config.callbacks import CallbackSettings
from ivr.dialer import protocol
from ivr.dialer.intake import CallLogIntake
from ivr.dialer.link import DialerLink
from ivr.dialer.pacing import TokenBucket, progressive_capacity
from ivr.dialer.policy import free_seats, make_chooser, make_planner
from ivr.domain.callbacks import (
    AttemptOutcome,
    CallbackRequest,
    CallingRules,
    Chooser,
    ClaimDecision,
    Skip,
    outcome_of_dial_status,
)
from ivr.domain.privacy import mask_number
from ivr.domain.routing import AgentState, Presence, RoutingPolicy
from ivr.domain.shifts import Roster
from ivr.domain.text import squeezed

log = logging.getLogger(__name__)

JUST_SENT = timedelta(seconds=5)  # an attempt this young may not show as a channel yet


@dataclass(frozen=True)
class DialerDeps:
    repo: CallbackRepo
    intake: CallbackIntake
    settings: CallbackSettings
    rules: CallingRules
    roster: Roster
    policy: RoutingPolicy
    presence: PresenceRepo
    clock: Clock


@dataclass
class DialerStats:
    originated: list[tuple[float, str]] = field(default_factory=list)  # (monotonic, action)
    results: dict[str, str] = field(default_factory=dict)  # action -> outcome
    reconciled: int = 0


def dialer_id() -> str:
    return f"{socket.gethostname()}:{os.getpid()}"


def claim_due(
    deps: DialerDeps,
    name: str,
    presence: Presence,
    busy_seats: Iterable[str],
    refusal: Callable[[str], str | None] | None = None,
) -> list[Claim]:
    """Claim what is due now for the free seats, paced (every backend's step 4).

    `refusal(number)` is a backend's reason not to call a number: such a request is
    left for another backend (the Twilio backend leaves +86 to the Asterisk trunk).
    """
    d, s = deps, deps.settings.dialer
    now = d.clock()
    free = free_seats(now, d.roster, d.policy, presence, busy_seats)
    if not free:
        return []
    cap = progressive_capacity(len(free), s.batch_size, s.originate_rate, s.poll_seconds)
    waiting = d.repo.waiting_callers(now - timedelta(seconds=d.policy.max_wait_seconds + 60))
    chooser = make_chooser(now, d.rules, d.policy, free, waiting)
    if refusal is not None:
        chooser = _refusing(chooser, refusal)
    return d.repo.claim_due(now, s.batch_size, name, chooser, max_dials=cap)


def _refusing(chooser: Chooser, refusal: Callable[[str], str | None]) -> Chooser:
    def choose(req: CallbackRequest) -> ClaimDecision:
        reason = refusal(req.number)
        return Skip(reason) if reason is not None else chooser(req)

    return choose


def agent_presence(repo: PresenceRepo, device_states: dict[str, str]) -> Presence:
    """The agents' states as the routing domain reads them, with the seats' device states."""
    states: dict[str, AgentState] = {}
    for agent_id, rec in repo.agent_states().items():
        try:
            states[agent_id] = AgentState(rec.state)
        except ValueError:
            continue
    return Presence(states, dict(device_states))


def finish(
    deps: DialerDeps, action: str, outcome: AttemptOutcome, status: str, detail: str
) -> bool:
    """Record an attempt's result and move its request on; False when already recorded."""
    now = deps.clock()
    planner = make_planner(now, deps.rules, deps.settings.retry)
    after = deps.repo.finish_attempt(
        action, outcome, now, planner, dial_status=status, detail=detail
    )
    if after is None:
        return False
    log.info("callback %s: %s -> %s", action, outcome.value, after.state.value)
    return True


class TurnGuard:
    """Around each turn of a dialer's loop: an exception is logged, not raised, so the
    loop goes on (the thread would otherwise end, and with it all dialling). The first
    failure is logged with its traceback, then one line a minute while turns keep
    failing, and the recovery once one succeeds."""

    QUIET_SECONDS = 60.0

    def __init__(self, name: str, clock: Callable[[], float] = time.monotonic) -> None:
        self.name, self.clock = name, clock
        self.failing = 0  # turns failed in a row
        self._said = -self.QUIET_SECONDS

    def __enter__(self) -> None:
        return None

    def __exit__(
        self,
        kind: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> bool:
        if exc is None:
            if self.failing:
                log.warning("%s: a turn succeeded again after %d failed", self.name, self.failing)
            self.failing = 0
            return False
        if not isinstance(exc, Exception):
            return False  # KeyboardInterrupt, SystemExit: not ours to swallow
        self.failing += 1
        now = self.clock()
        if self.failing == 1:
            log.exception("%s: a turn failed; the next one tries again", self.name)
            self._said = now
        elif now - self._said >= self.QUIET_SECONDS:
            log.warning(
                "%s: turns still failing (%d in a row): %s",
                self.name, self.failing, squeezed(str(exc), 200),
            )  # fmt: skip
            self._said = now
        return True


class Dialer:
    def __init__(self, deps: DialerDeps, link: DialerLink, name: str | None = None) -> None:
        self.deps = deps
        self.link = link
        self.name = name or dialer_id()
        s = deps.settings.dialer
        self.bucket = TokenBucket(s.originate_rate, s.burst)
        self.inflight: dict[str, str] = {}  # action id -> seat
        self.device_states: dict[str, str] = {}
        self.stats = DialerStats()
        self.calllog = CallLogIntake(deps.repo, deps.intake, deps.settings.intake)
        self._seen_connects = 0
        self._last_reconcile = 0.0
        self._last_intake = 0.0
        self._stop = threading.Event()
        self._held: tuple[str, dict[str, str]] | None = None
        self._was_connected = False

    # --- running ------------------------------------------------------------------

    def run(self) -> None:
        """Until `stop()`: the loop described in the module docstring. A turn that fails
        (the database away, a bug) is logged and the next one tries again: callbacks
        never stop being dialled for one bad minute."""
        self.link.start()
        guard = TurnGuard("dialer")
        try:
            while not self._stop.is_set():
                with guard:
                    self.step()
                self._wait_events(self.deps.settings.dialer.poll_seconds)
        finally:
            self.link.stop()

    def stop(self) -> None:
        self._stop.set()

    def step(self) -> None:
        self.drain_events()
        if not self.link.connected:
            self._was_connected = False
            return
        now = time.monotonic()
        if not self._was_connected or self.link.connects != self._seen_connects:
            # A (re)connect: Asterisk may have restarted, or this dialer just started.
            self._was_connected, self._seen_connects = True, self.link.connects
            self._on_connected()
            self._last_reconcile = now
        elif now - self._last_reconcile >= self.deps.settings.dialer.reconcile_seconds:
            self.reconcile()
            self._last_reconcile = now
        if now - self._last_intake >= self.deps.settings.intake.scan_seconds:
            self._last_intake = now
            self.calllog.scan(self.deps.clock())
        self.dial_due()

    def _wait_events(self, seconds: float) -> None:
        """Sleep until an AMI event arrives or `seconds` pass; the event is kept first."""
        if self._held is not None:
            return
        try:
            self._held = self.link.events.get(timeout=seconds)
        except queue.Empty:
            return

    def _on_connected(self) -> None:
        log.info("dialer %s: AMI connected; reconciling attempts in flight", self.name)
        listing = self.link.collect("DeviceStateList")
        for name, keys in listing or []:
            event = protocol.parse_event(name, keys)
            if isinstance(event, protocol.DeviceState):
                self.device_states[event.seat] = event.state
        self.reconcile()

    # --- events ---------------------------------------------------------------------

    def drain_events(self) -> None:
        while True:
            if self._held is not None:
                (name, keys), self._held = self._held, None
            else:
                try:
                    name, keys = self.link.events.get_nowait()
                except queue.Empty:
                    return
            try:
                self.handle(name, keys)
            except Exception:
                log.exception("dialer: AMI event %s could not be applied", name)

    def handle(self, name: str, keys: dict[str, str]) -> None:
        event = protocol.parse_event(name, keys)
        if event is None:
            return
        if isinstance(event, protocol.DeviceState):
            self.device_states[event.seat] = event.state
        elif isinstance(event, protocol.Connected):
            self.deps.repo.mark_connected(event.action_id, self.deps.clock())
        elif isinstance(event, protocol.Ended):
            outcome = outcome_of_dial_status(event.dial_status)
            self._finish(event.action_id, outcome, event.dial_status, "dialplan")
            self.link.db_del(protocol.ASTDB_FAMILY, event.action_id)
        elif isinstance(event, protocol.AgentLegFailed):
            self._finish(event.action_id, AttemptOutcome.AGENT_UNAVAILABLE, "", event.reason)

    def _finish(self, action: str, outcome: AttemptOutcome, status: str, detail: str) -> None:
        self.inflight.pop(action, None)
        if finish(self.deps, action, outcome, status, detail):
            self.stats.results[action] = outcome.value

    # --- reconcile ---------------------------------------------------------------------

    def reconcile(self) -> None:
        """Attempts without a result and without a channel get their result from AstDB."""
        d = self.deps
        self.drain_events()
        channels = self.link.collect("CoreShowChannels")
        if channels is None:
            return
        live = protocol.live_accounts(channels)
        now = d.clock()
        for attempt, _request in d.repo.open_attempts():
            action = attempt.action_id
            if action in live:
                self.inflight[action] = attempt.seat
                continue
            if attempt.sent_at is not None and now - attempt.sent_at < JUST_SENT:
                continue
            status = self.link.db_get(protocol.ASTDB_FAMILY, action)
            outcome, why = self._outcome_from_trace(status, attempt.sent_at is not None)
            self.stats.reconciled += 1
            self._finish(action, outcome, status or "", f"reconciled: {why}")
            if status is not None:
                self.link.db_del(protocol.ASTDB_FAMILY, action)
        d.repo.expire_overdue(now)

    @staticmethod
    def _outcome_from_trace(status: str | None, sent: bool) -> tuple[AttemptOutcome, str]:
        if status is None:
            why = "agent leg never answered" if sent else "originate never sent"
            return AttemptOutcome.AGENT_UNAVAILABLE, why
        if status == protocol.STATUS_CONNECTED:
            return AttemptOutcome.ANSWERED, "customer was connected"
        if status == "AGENT":
            return AttemptOutcome.UNKNOWN, "call lost after the agent answered"
        return outcome_of_dial_status(status), f"last status {status}"

    # --- dialling -------------------------------------------------------------------------

    def presence(self) -> Presence:
        return agent_presence(self.deps.presence, self.device_states)

    def dial_due(self) -> list[Claim]:
        claims = claim_due(self.deps, self.name, self.presence(), self.inflight.values())
        for claim in claims:
            self._originate(claim)
        return claims

    def _originate(self, claim: Claim) -> None:
        s = self.deps.settings.dialer
        while not self.bucket.take(time.monotonic()):
            time.sleep(self.bucket.wait_time(time.monotonic()))
        req, attempt = claim.request, claim.attempt
        spec = protocol.OriginateSpec(
            attempt.action_id,
            attempt.seat,
            req.number,
            req.language,
            req.branch,
            s.agent_ring_seconds,
            s.customer_ring_seconds,
        )
        self.inflight[attempt.action_id] = attempt.seat
        response = self.link.send("Originate", **protocol.originate_fields(spec))
        self.stats.originated.append((time.monotonic(), attempt.action_id))
        if response is not None and response.get("Response", "").lower() == "success":
            self.deps.repo.mark_sent(attempt.action_id, self.deps.clock())
            log.info(
                "callback %s: ringing %s for %s",
                attempt.action_id,
                attempt.seat,
                mask_number(req.number),
            )
            return
        why = (response or {}).get("Message", "AMI not connected")
        self._finish(attempt.action_id, AttemptOutcome.AGENT_UNAVAILABLE, "", f"originate: {why}")
