"""What the use cases need from the outside world, as Protocols.

Adapters (database, Asterisk, clock) implement these; the use cases never
import an adapter.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Protocol

from ivr.domain.calllog import CallEvent
from ivr.domain.cases import Case
from ivr.domain.routing import Presence

Clock = Callable[[], datetime]


class CallLog(Protocol):
    def record(self, event: CallEvent) -> None: ...


class CallerHistory(Protocol):
    def previous_agent(self, caller: str, since: datetime) -> str | None: ...


class CaseOwners(Protocol):
    def active_for(self, number: str) -> Case | None: ...


class PresenceSource(Protocol):
    def snapshot(self) -> Presence: ...


class NullCallLog:
    """Records nothing: for `hotline simulate`, which must not touch the call log."""

    def record(self, event: CallEvent) -> None:
        return None


class NoHistory:
    def previous_agent(self, caller: str, since: datetime) -> str | None:
        return None


class StaticPresence:
    def __init__(self, presence: Presence | None = None) -> None:
        self._presence = presence or Presence()

    def snapshot(self) -> Presence:
        return self._presence
