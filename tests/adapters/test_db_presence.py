"""PresenceRepo: agent work status and seat device state, newest update wins."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy.orm import Session, sessionmaker

from ivr.adapters.db.models import NaiveDatetimeError
from ivr.adapters.db.presence import AgentStateRecord, InvalidAgentStateError, PresenceRepo

T0 = datetime(2025, 3, 14, 9, 0, tzinfo=UTC)


def at(minutes: float) -> datetime:
    return T0 + timedelta(minutes=minutes)


@pytest.fixture
def presence(session_factory: sessionmaker[Session]) -> PresenceRepo:
    return PresenceRepo(session_factory)


def test_agent_states_round_trip(presence: PresenceRepo) -> None:
    presence.set_agent_state("agent-1", "available", "", at(0))
    presence.set_agent_state("agent-2", "away", "meal", at(5))
    assert presence.agent_states() == {
        "agent-1": AgentStateRecord("agent-1", "available", "", at(0), at(0)),
        "agent-2": AgentStateRecord("agent-2", "away", "meal", at(5), at(5)),
    }


def test_same_state_again_keeps_since_and_a_change_resets_it(presence: PresenceRepo) -> None:
    presence.set_agent_state("a", "away", "break", at(0))
    presence.set_agent_state("a", "away", "break", at(3))
    assert presence.agent_states()["a"] == AgentStateRecord("a", "away", "break", at(0), at(3))
    presence.set_agent_state("a", "away", "training", at(4))
    assert presence.agent_states()["a"] == AgentStateRecord("a", "away", "training", at(4), at(4))
    presence.set_agent_state("a", "available", "", at(9))
    assert presence.agent_states()["a"].since == at(9)


def test_an_older_update_never_moves_a_state_back(presence: PresenceRepo) -> None:
    presence.set_agent_state("a", "wrap_up", "", at(10))
    presence.set_agent_state("a", "available", "", at(2))
    assert presence.agent_states()["a"].state == "wrap_up"
    presence.set_seat_state("seat-1", "INUSE", at(10))
    presence.set_seat_state("seat-1", "NOT_INUSE", at(2))
    assert presence.seat_states() == {"seat-1": "INUSE"}


def test_unknown_state_and_naive_time_are_refused(presence: PresenceRepo) -> None:
    with pytest.raises(InvalidAgentStateError, match="on_holiday"):
        presence.set_agent_state("a", "on_holiday", "", at(0))
    with pytest.raises(NaiveDatetimeError):
        presence.set_seat_state("seat-1", "INUSE", datetime(2025, 3, 14, 9, 0))
    assert presence.agent_states() == {}
    assert presence.seat_states() == {}


def test_seat_states(presence: PresenceRepo) -> None:
    presence.set_seat_state("seat-1", "NOT_INUSE", at(0))
    presence.set_seat_state("seat-2", "RINGING", at(0))
    presence.set_seat_state("seat-1", "INUSE", at(1))
    assert presence.seat_states() == {"seat-1": "INUSE", "seat-2": "RINGING"}
