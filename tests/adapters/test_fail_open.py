"""Optional reads fail open: a database outage must not stop the routing decision."""

from __future__ import annotations

import socket
from datetime import UTC, datetime

import pytest

from ivr.adapters.db.calllog import SqlCallLog
from ivr.adapters.db.engine import make_engine, make_session_factory
from ivr.adapters.db.failopen import Breaker, DbPresence, FailOpenHistory
from ivr.adapters.db.presence import PresenceRepo


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture
def dead_sessions():  # type: ignore[no-untyped-def]
    engine = make_engine(f"postgresql://postgres@127.0.0.1:{_closed_port()}/nowhere")
    yield make_session_factory(engine)
    engine.dispose()


class CountingCalls(SqlCallLog):
    attempts = 0

    def previous_agent(self, caller: str, since: datetime) -> str | None:
        self.attempts += 1
        return super().previous_agent(caller, since)


def test_history_fails_open_and_backs_off(dead_sessions) -> None:  # type: ignore[no-untyped-def]
    calls = CountingCalls(dead_sessions)
    history = FailOpenHistory(calls, Breaker(pause=60))
    since = datetime(2026, 11, 16, tzinfo=UTC)
    assert history.previous_agent("13800000001", since) is None
    assert history.previous_agent("13800000001", since) is None
    assert calls.attempts == 1  # the second call did not wait on the dead database


def test_presence_keeps_device_states_from_ami_when_the_database_is_down(dead_sessions) -> None:  # type: ignore[no-untyped-def]
    presence = DbPresence(PresenceRepo(dead_sessions))
    presence.note_device_state("seat3", "INUSE")
    snap = presence.snapshot()
    assert snap.agent_states == {}
    assert snap.device_states == {"seat3": "INUSE"}
