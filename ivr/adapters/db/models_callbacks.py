"""The callback ledger's tables: requests, their dial attempts and their state history.

On the shared `Base`, created by migration 0003_callbacks. The repository
(`callbacks.py`) copies rows into the domain's plain `CallbackRequest`.

Two indexes carry the ledger's guarantees:

* ``uq_callback_requests_open``: a partial unique index on (number, matter)
  over the open states, so two writers can never both open a request for
  the same number and matter (no duplicate callbacks);
* ``ix_callback_requests_dial_order``: (due_at, arrived_at, id) over the states
  the dialer may claim, in dial order, so the due batch is the first rows of
  one index range however many requests are pending or due.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime

from sqlalchemy import Boolean, ForeignKey, Index, Integer, String, UniqueConstraint, false, text
from sqlalchemy.orm import Mapped, mapped_column

from ivr.adapters.db.base import Base
from ivr.adapters.db.models import UtcDateTime
from ivr.domain.callbacks import DUE_STATES, OPEN_STATES, CallbackState


def _state_in(states: Iterable[CallbackState]) -> str:
    return "state IN ({})".format(", ".join(f"'{s.value}'" for s in sorted(states)))


OPEN_SQL = _state_in(OPEN_STATES)
"""The request is still open (the partial unique index's predicate)."""
DUE_SQL = _state_in(DUE_STATES)
"""The dialer may claim it (the dial-order index's predicate). Queries must use this
very text, with literals, for SQLite to use the partial index."""


class CallbackRequestRow(Base):
    """One callback request: who, about what, its state, and when it is due."""

    __tablename__ = "callback_requests"
    __table_args__ = (
        UniqueConstraint("source_uid", name="uq_callback_requests_source_uid"),
        Index(
            "uq_callback_requests_open",
            "number",
            "matter",
            unique=True,
            sqlite_where=text(OPEN_SQL),
            postgresql_where=text(OPEN_SQL),
        ),
        Index("ix_callback_requests_state_due", "state", "due_at"),
        Index(
            "ix_callback_requests_dial_order",
            "due_at",
            "arrived_at",
            "id",
            sqlite_where=text(DUE_SQL),
            postgresql_where=text(DUE_SQL),
        ),
        Index("ix_callback_requests_matter", "matter"),
        # A case's callbacks (source 'case', note = the case number): closing cancels them.
        Index("ix_callback_requests_source_note", "source", "note"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    number: Mapped[str] = mapped_column(String)
    matter: Mapped[str] = mapped_column(String)
    state: Mapped[str] = mapped_column(String)
    language: Mapped[str] = mapped_column(String, default="", server_default="")
    branch: Mapped[str] = mapped_column(String, default="", server_default="")
    source: Mapped[str] = mapped_column(String)  # ivr | overflow | voicemail | abandoned | ...
    source_uid: Mapped[str | None] = mapped_column(String)  # the call that asked, if any
    tz: Mapped[str] = mapped_column(String)
    arrived_at: Mapped[datetime] = mapped_column(UtcDateTime())
    due_at: Mapped[datetime | None] = mapped_column(UtcDateTime())
    deadline: Mapped[datetime | None] = mapped_column(UtcDateTime())
    expires_at: Mapped[datetime | None] = mapped_column(UtcDateTime())
    attempts: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    last_outcome: Mapped[str] = mapped_column(String, default="", server_default="")
    note: Mapped[str] = mapped_column(String, default="", server_default="")
    created_at: Mapped[datetime] = mapped_column(UtcDateTime())
    updated_at: Mapped[datetime] = mapped_column(UtcDateTime())
    completed_at: Mapped[datetime | None] = mapped_column(UtcDateTime())


class CallbackAttemptRow(Base):
    """One dial attempt. Inserted in the transaction that claims the request, before
    any Originate is sent; `action_id` is the AMI ActionID (and the AccountCode of
    the channels), so events and restarts find it."""

    __tablename__ = "callback_attempts"
    __table_args__ = (
        UniqueConstraint("request_id", "seq", name="uq_callback_attempts_request_seq"),
        UniqueConstraint("action_id", name="uq_callback_attempts_action_id"),
        Index(
            "ix_callback_attempts_open",
            "request_id",
            sqlite_where=text("outcome IS NULL"),
            postgresql_where=text("outcome IS NULL"),
        ),  # fmt: skip
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    request_id: Mapped[int] = mapped_column(
        ForeignKey("callback_requests.id", ondelete="CASCADE", name="fk_callback_attempts_request")
    )
    seq: Mapped[int] = mapped_column(Integer)
    action_id: Mapped[str] = mapped_column(String)
    dialer: Mapped[str] = mapped_column(String, default="", server_default="")
    seat: Mapped[str] = mapped_column(String, default="", server_default="")
    agent_id: Mapped[str] = mapped_column(String, default="", server_default="")
    started_at: Mapped[datetime] = mapped_column(UtcDateTime())
    sent_at: Mapped[datetime | None] = mapped_column(UtcDateTime())  # Originate accepted
    connected_at: Mapped[datetime | None] = mapped_column(UtcDateTime())
    ended_at: Mapped[datetime | None] = mapped_column(UtcDateTime())
    outcome: Mapped[str | None] = mapped_column(String)
    counted: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())
    dial_status: Mapped[str] = mapped_column(String, default="", server_default="")
    detail: Mapped[str] = mapped_column(String, default="", server_default="")


class CallbackEventRow(Base):
    """Every state change of a request, with the reason: the ledger's audit trail."""

    __tablename__ = "callback_events"
    __table_args__ = (Index("ix_callback_events_request", "request_id", "id"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    request_id: Mapped[int] = mapped_column(
        ForeignKey("callback_requests.id", ondelete="CASCADE", name="fk_callback_events_request")
    )
    at: Mapped[datetime] = mapped_column(UtcDateTime())
    from_state: Mapped[str | None] = mapped_column(String)
    to_state: Mapped[str] = mapped_column(String)
    reason: Mapped[str] = mapped_column(String, default="", server_default="")


CALLBACK_TABLES = frozenset(
    t.__tablename__ for t in (CallbackRequestRow, CallbackAttemptRow, CallbackEventRow)
)
