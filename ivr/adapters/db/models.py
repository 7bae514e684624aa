"""The hotline's core tables: calls, their menu steps and routing decisions, presence.

SQLAlchemy 2.0 typed models on the shared `Base`; every process (FastAGI server,
AGI scripts, AMI listener, dialer, web) uses these same classes. Repositories
(`calllog.py`, `presence.py`) never hand these ORM objects out: they copy them
into plain dataclasses. Schema changes go through `migrations/`.

Datetimes are timezone-aware and stored as UTC (`UtcDateTime`): PostgreSQL uses
``timestamptz``; SQLite stores naive UTC text and gets the zone back on load.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import (
    JSON,
    Boolean,
    DateTime,
    Dialect,
    Float,
    ForeignKey,
    Index,
    Integer,
    String,
    UniqueConstraint,
    false,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship
from sqlalchemy.types import TypeDecorator

from ivr.adapters.db.base import Base
from ivr.adapters.db.engine import DbError
from ivr.domain.calllog import Outcome


class NaiveDatetimeError(DbError, ValueError):
    """A datetime without a time zone was about to be stored."""


def _as_utc(value: datetime) -> datetime:
    """`value` in UTC; NaiveDatetimeError when it has no time zone."""
    if value.tzinfo is None or value.utcoffset() is None:
        raise NaiveDatetimeError(f"naive datetime {value.isoformat()}: give it a time zone")
    return value.astimezone(UTC)


class UtcDateTime(TypeDecorator[datetime]):
    """An aware datetime, stored as UTC, loaded back as an aware UTC datetime."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        """Refuse naive datetimes; convert to UTC (naive UTC for SQLite)."""
        if value is None:
            return None
        value = _as_utc(value)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def bind_processor(self, dialect: Dialect) -> Callable[[Any], Any] | None:
        """On SQLite, `process_bind_param` and the dialect's own DATETIME formatting
        in one step, to the same text ("YYYY-MM-DD HH:MM:SS.ffffff", naive UTC). The
        call-log writer binds a few datetimes for every event, and the two steps in
        Python were a tenth of its CPU."""
        if dialect.name != "sqlite":
            return super().bind_processor(dialect)

        def process(value: datetime | None) -> str | None:
            if value is None:
                return None
            return _as_utc(value).replace(tzinfo=None).isoformat(" ", "microseconds")

        return process

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        """Attach UTC to what SQLite returns; normalise PostgreSQL's zone to UTC."""
        if value is None:
            return None
        if value.tzinfo is None:
            return value.replace(tzinfo=UTC)
        return value.astimezone(UTC)


class Call(Base):
    """One call on the hotline, keyed by the Asterisk uniqueid of the caller channel.

    A row whose `source` is NULL is a placeholder: an event (e.g. a CallEnded
    from the AMI listener) arrived before the CallStarted; `started_at` is then
    the earliest time seen so far and CallStarted fills in the rest.
    """

    __tablename__ = "calls"
    __table_args__ = (
        UniqueConstraint("uid", name="uq_calls_uid"),
        Index("ix_calls_started_at", "started_at"),
        Index("ix_calls_caller_started_at", "caller", "started_at"),
        Index("ix_calls_answered_agent_started_at", "answered_agent", "started_at"),
        Index("ix_calls_outcome_started_at", "outcome", "started_at"),
        Index("ix_calls_branch", "branch"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    uid: Mapped[str] = mapped_column(String)
    caller: Mapped[str] = mapped_column(String, default="", server_default="")
    caller_name: Mapped[str] = mapped_column(String, default="", server_default="")
    dialed: Mapped[str] = mapped_column(String, default="", server_default="")
    channel: Mapped[str] = mapped_column(String, default="", server_default="")
    source: Mapped[str | None] = mapped_column(
        String
    )  # fastagi | agi | fallback | ami (Hangup only); NULL: placeholder
    language: Mapped[str] = mapped_column(String, default="", server_default="")
    started_at: Mapped[datetime] = mapped_column(UtcDateTime())
    routed_at: Mapped[datetime | None] = mapped_column(UtcDateTime())
    answered_at: Mapped[datetime | None] = mapped_column(UtcDateTime())
    ended_at: Mapped[datetime | None] = mapped_column(UtcDateTime())
    branch: Mapped[str | None] = mapped_column(String)
    route_kind: Mapped[str | None] = mapped_column(String)
    route_target: Mapped[str | None] = mapped_column(String)
    priority: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    vip: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())
    answered_seat: Mapped[str | None] = mapped_column(String)
    answered_agent: Mapped[str | None] = mapped_column(String)
    outcome: Mapped[str] = mapped_column(
        String, default=Outcome.IN_PROGRESS.value, server_default=Outcome.IN_PROGRESS.value
    )
    # The outcome a CallEnded event stated, if any; `outcome` is derived when NULL.
    reported_outcome: Mapped[str | None] = mapped_column(String)
    hangup_cause: Mapped[str] = mapped_column(String, default="", server_default="")
    wait_seconds: Mapped[float | None] = mapped_column(Float)
    talk_seconds: Mapped[float | None] = mapped_column(Float)

    steps: Mapped[list[CallStep]] = relationship(
        back_populates="call",
        order_by="CallStep.seq",
        cascade="all, delete-orphan",
        passive_deletes=True,
    )
    decision: Mapped[RoutingDecision | None] = relationship(
        back_populates="call", cascade="all, delete-orphan", passive_deletes=True
    )


class CallStep(Base):
    """One step of a caller through the voice menu; (call, seq) is unique."""

    __tablename__ = "call_steps"
    __table_args__ = (UniqueConstraint("call_id", "seq", name="uq_call_steps_call_id_seq"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    call_id: Mapped[int] = mapped_column(
        ForeignKey("calls.id", ondelete="CASCADE", name="fk_call_steps_call_id")
    )
    seq: Mapped[int] = mapped_column(Integer)
    at: Mapped[datetime] = mapped_column(UtcDateTime())
    node: Mapped[str] = mapped_column(String)
    event: Mapped[str] = mapped_column(String)
    key: Mapped[str] = mapped_column(String, default="", server_default="")
    detail: Mapped[str] = mapped_column(String, default="", server_default="")
    # How the caller chose: key | speech ("" for timeouts); for speech, the phrase
    # heard and the recogniser's confidence (0-1). Migration 0010_speech.
    input: Mapped[str] = mapped_column(String(10), default="", server_default="")
    phrase: Mapped[str] = mapped_column(String, default="", server_default="")
    confidence: Mapped[float | None] = mapped_column(Float, nullable=True)

    call: Mapped[Call] = relationship(back_populates="steps")


class RoutingDecision(Base):
    """Where the router sent a call and why (`trace`); the latest decision per call."""

    __tablename__ = "routing_decisions"
    __table_args__ = (UniqueConstraint("call_id", name="uq_routing_decisions_call_id"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    call_id: Mapped[int] = mapped_column(
        ForeignKey("calls.id", ondelete="CASCADE", name="fk_routing_decisions_call_id")
    )
    at: Mapped[datetime] = mapped_column(UtcDateTime())
    branch: Mapped[str] = mapped_column(String)
    kind: Mapped[str] = mapped_column(String)
    target: Mapped[str] = mapped_column(String)
    priority: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    vip: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())
    language: Mapped[str] = mapped_column(String, default="", server_default="")
    trace: Mapped[list[str]] = mapped_column(JSON, default=list)

    call: Mapped[Call] = relationship(back_populates="decision")


class AgentState(Base):
    """An agent's work status (available | away | signed_out | wrap_up) and since when."""

    __tablename__ = "agent_states"

    agent_id: Mapped[str] = mapped_column(String, primary_key=True)
    state: Mapped[str] = mapped_column(String)
    reason: Mapped[str] = mapped_column(String, default="", server_default="")
    since: Mapped[datetime] = mapped_column(UtcDateTime())
    updated_at: Mapped[datetime] = mapped_column(UtcDateTime())


class SeatState(Base):
    """The Asterisk device state of a seat (NOT_INUSE, INUSE, RINGING, UNAVAILABLE, ...)."""

    __tablename__ = "seat_states"

    seat: Mapped[str] = mapped_column(String, primary_key=True)
    device_state: Mapped[str] = mapped_column(String)
    updated_at: Mapped[datetime] = mapped_column(UtcDateTime())


CORE_TABLES = frozenset(
    t.__tablename__ for t in (Call, CallStep, RoutingDecision, AgentState, SeatState)
)
"""Names of the tables this module (and migration 0001) owns."""
