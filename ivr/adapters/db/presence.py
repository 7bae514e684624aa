"""Agent work status and seat device state, as the supervisor's screen and the router see them.

Updates carry the time they describe (`at`); an update older than what is
stored is ignored, so out-of-order AMI events never move a state backwards.
Both tables are written with portable upserts (``INSERT .. ON CONFLICT DO
UPDATE .. WHERE``), safe with several writer processes.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Final

from sqlalchemy import case, func, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session, sessionmaker

from ivr.adapters.db.engine import READ_ONLY, DbError
from ivr.adapters.db.models import AgentState, NaiveDatetimeError, SeatState

AGENT_STATES: Final = frozenset({"available", "away", "signed_out", "wrap_up"})
_PG_AGENT_STATES_LOCK: Final = 7_263_114_002  # pg_advisory_xact_lock key: agent states


class InvalidAgentStateError(DbError, ValueError):
    """An agent state outside `AGENT_STATES`."""


@dataclass(frozen=True)
class AgentStateRecord:
    """An agent's work status; `since` is when the current state (and reason) began."""

    agent_id: str
    state: str
    reason: str
    since: datetime
    updated_at: datetime


class PresenceRepo:
    """Reads and writes agent states and seat device states."""

    def __init__(self, session_factory: sessionmaker[Session]) -> None:
        self._session_factory = session_factory

    @contextmanager
    def state_change(self) -> Iterator[AgentStateChange]:
        """One transaction over the agents' states that no other writer of them, in any
        process, runs beside: a check of everyone's states (the staffing rule) and the
        change it allows are one step. PostgreSQL: a transaction-scoped advisory lock, which
        every agent-state write takes; SQLite: the write lock that every transaction takes at
        its BEGIN IMMEDIATE (engine.py). Held until the block ends (commit, or rollback on
        an exception); keep it short, and use its `session` for the rest of the unit of work."""
        with self._session_factory.begin() as session:
            if session.get_bind().dialect.name == "postgresql":
                session.execute(select(func.pg_advisory_xact_lock(_PG_AGENT_STATES_LOCK)))
            else:
                session.connection()  # BEGIN IMMEDIATE: the write lock, now
            yield AgentStateChange(session)

    def set_agent_state(self, agent_id: str, state: str, reason: str, at: datetime) -> None:
        """Record that `agent_id` is in `state` (for `reason`) as of `at`.

        Setting the same state and reason again keeps the original `since`.
        """
        with self.state_change() as change:
            change.set(agent_id, state, reason, at)

    def agent_states(self) -> dict[str, AgentStateRecord]:
        """Every known agent's state, by agent id."""
        with self._session_factory() as session:
            session.connection(execution_options=READ_ONLY)
            return _agent_states(session)

    def set_seat_state(self, seat: str, device_state: str, at: datetime) -> None:
        """Record the Asterisk device state of `seat` as of `at`."""
        _require_aware(at, f"seat {seat}")
        with self._session_factory.begin() as session:
            insert = _insert_for(session)
            stmt = insert(SeatState.__table__).values(
                seat=seat, device_state=device_state, updated_at=at
            )
            table: Any = SeatState.__table__
            session.execute(
                stmt.on_conflict_do_update(
                    index_elements=["seat"],
                    set_={
                        "device_state": stmt.excluded.device_state,
                        "updated_at": stmt.excluded.updated_at,
                    },
                    where=table.c.updated_at <= stmt.excluded.updated_at,
                )
            )

    def seat_states(self) -> dict[str, str]:
        """Every known seat's device state, by seat."""
        with self._session_factory() as session:
            session.connection(execution_options=READ_ONLY)
            rows = session.execute(select(SeatState.seat, SeatState.device_state))
            return {seat: state for seat, state in rows}


@dataclass(frozen=True)
class AgentStateChange:
    """The agents' states inside `PresenceRepo.state_change`: read them, set them."""

    session: Session

    def states(self) -> dict[str, AgentStateRecord]:
        return _agent_states(self.session)

    def set(self, agent_id: str, state: str, reason: str, at: datetime) -> None:
        """As `PresenceRepo.set_agent_state`, in this transaction."""
        if state not in AGENT_STATES:
            raise InvalidAgentStateError(
                f"agent {agent_id}: state {state!r} is not one of {sorted(AGENT_STATES)}"
            )
        _require_aware(at, f"agent {agent_id}")
        insert = _insert_for(self.session)
        stmt = insert(AgentState.__table__).values(
            agent_id=agent_id, state=state, reason=reason, since=at, updated_at=at
        )
        table: Any = AgentState.__table__
        unchanged = (table.c.state == stmt.excluded.state) & (
            table.c.reason == stmt.excluded.reason
        )
        self.session.execute(
            stmt.on_conflict_do_update(
                index_elements=["agent_id"],
                set_={
                    "state": stmt.excluded.state,
                    "reason": stmt.excluded.reason,
                    "since": case((unchanged, table.c.since), else_=stmt.excluded.since),
                    "updated_at": stmt.excluded.updated_at,
                },
                where=table.c.updated_at <= stmt.excluded.updated_at,
            )
        )


def _agent_states(session: Session) -> dict[str, AgentStateRecord]:
    rows = session.scalars(select(AgentState).order_by(AgentState.agent_id))
    return {
        r.agent_id: AgentStateRecord(r.agent_id, r.state, r.reason, r.since, r.updated_at)
        for r in rows
    }


def _insert_for(session: Session) -> Any:
    """The dialect's INSERT (with ON CONFLICT) for the session's database."""
    return postgresql.insert if session.get_bind().dialect.name == "postgresql" else sqlite.insert


def _require_aware(at: datetime, what: str) -> None:
    if at.tzinfo is None or at.utcoffset() is None:
        raise NaiveDatetimeError(f"{what}: naive datetime {at.isoformat()}")
