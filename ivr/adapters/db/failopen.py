"""Routing reads that fail open: call history and presence behind a breaker.

The routing decision runs on the FastAGI event loop: a database that hangs must
not stall every call, so these optional reads give up quickly and the caller is
routed without them (first-contact routing is a preference; presence keeps its
last snapshot and the device states AMI reported since).
"""

from __future__ import annotations

import logging
import threading
import time
from datetime import datetime

from sqlalchemy.exc import SQLAlchemyError

from ivr.adapters.db.calllog import SqlCallLog
from ivr.adapters.db.cases import CaseRepo
from ivr.adapters.db.presence import PresenceRepo
from ivr.domain.cases import Case
from ivr.domain.routing import AgentState, Presence

log = logging.getLogger(__name__)


class Breaker:
    """After a database failure, do not try again for `pause` seconds.

    The routing decision runs on the FastAGI event loop: a database that hangs
    must not stall every call, so optional reads fail open quickly.
    """

    def __init__(self, pause: float = 5.0) -> None:
        self.pause = pause
        self._failed_at: float | None = None

    def closed(self) -> bool:
        """True when a read may be attempted."""
        return self._failed_at is None or time.monotonic() - self._failed_at > self.pause

    def failed(self) -> None:
        self._failed_at = time.monotonic()

    def succeeded(self) -> None:
        self._failed_at = None


class FailOpenHistory:
    """The repeat caller's previous agent, or None when the call log cannot be read:
    first-contact routing is a preference, and the caller must be routed anyway."""

    def __init__(self, calls: SqlCallLog, breaker: Breaker | None = None) -> None:
        self._calls, self._breaker = calls, breaker or Breaker()

    def previous_agent(self, caller: str, since: datetime) -> str | None:
        if not self._breaker.closed():
            return None
        try:
            agent = self._calls.previous_agent(caller, since)
        except SQLAlchemyError as e:
            self._breaker.failed()
            log.warning("call history unavailable, routing without it: %s", e)
            return None
        self._breaker.succeeded()
        return agent


class FailOpenCases:
    """The caller's open case, or None when the cases cannot be read: routing to the
    case's owner is a preference, and the caller must be routed anyway."""

    def __init__(self, repo: CaseRepo, breaker: Breaker | None = None) -> None:
        self._repo, self._breaker = repo, breaker or Breaker()

    def active_for(self, number: str) -> Case | None:
        if not self._breaker.closed():
            return None
        try:
            case = self._repo.active_for(number)
        except SQLAlchemyError as e:
            self._breaker.failed()
            log.warning("cases unavailable, routing without them: %s", e)
            return None
        self._breaker.succeeded()
        return case


class DbPresence:
    """Presence from the database, cached briefly so a burst of calls reads it once.

    When the database cannot be read, the last snapshot stands (fail open), with
    the device states the AMI listener reported since (`note_device_state`).
    """

    def __init__(self, repo: PresenceRepo, ttl_seconds: float = 0.5) -> None:
        self._repo, self._ttl = repo, ttl_seconds
        self._cached: Presence | None = None
        self._devices: dict[str, str] = {}
        self._at = 0.0
        self._lock = threading.Lock()
        self._breaker = Breaker()

    def snapshot(self) -> Presence:
        with self._lock:
            stale = self._cached is None or time.monotonic() - self._at > self._ttl
            if stale and self._breaker.closed():
                try:
                    self._cached = self._read()
                    self._breaker.succeeded()
                except SQLAlchemyError as e:
                    self._breaker.failed()
                    log.warning("presence unavailable, using the last known: %s", e)
                self._at = time.monotonic()
            last = self._cached or Presence()
            return Presence(last.agent_states, {**last.device_states, **self._devices})

    def note_device_state(self, seat: str, state: str) -> None:
        """A device state from AMI, known even while the database is down."""
        with self._lock:
            self._devices[seat] = state

    def _read(self) -> Presence:
        states: dict[str, AgentState] = {}
        for agent_id, rec in self._repo.agent_states().items():
            try:
                states[agent_id] = AgentState(rec.state)
            except ValueError:
                continue
        return Presence(states, self._repo.seat_states())

    def invalidate(self) -> None:
        with self._lock:
            self._at = 0.0
