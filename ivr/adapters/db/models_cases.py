"""The case tables: cases, their calls, their events, and the monthly serials.

On the shared `Base`, created by migration 0008_cases. The repository (`cases.py`)
copies rows into the domain's plain `Case`.

* ``case_serials``: one row per month (``YYYYMM``) holding the last serial given;
  the repository bumps it with a guarded ``UPDATE .. RETURNING`` in the creating
  transaction, so two writers never get the same number (and ``uq_cases_case_no``
  would refuse it if they did);
* ``ix_cases_active_deadline``: (deadline) over the active states, the board's
  and the sweep's range scan however many closed cases there are.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, Index, Integer, PrimaryKeyConstraint, String, text
from sqlalchemy.orm import Mapped, mapped_column

from ivr.adapters.db.base import Base
from ivr.adapters.db.models import UtcDateTime
from ivr.domain.cases import ACTIVE_STATES

ACTIVE_SQL = "state IN ({})".format(", ".join(f"'{s.value}'" for s in sorted(ACTIVE_STATES)))
"""The case is still being worked on (the partial index's predicate, literal for SQLite)."""


class CaseSerialRow(Base):
    __tablename__ = "case_serials"

    month: Mapped[str] = mapped_column(String, primary_key=True)  # YYYYMM, hotline's zone
    last: Mapped[int] = mapped_column(Integer)


class CaseRow(Base):
    __tablename__ = "cases"
    __table_args__ = (
        # text_pattern_ops: PostgreSQL answers LIKE 'prefix%' from these indexes whatever
        # the database's collation (equality too); SQLite searches prefixes as ranges.
        Index(
            "uq_cases_case_no",
            "case_no",
            unique=True,
            postgresql_ops={"case_no": "text_pattern_ops"},
        ),
        Index(
            "ix_cases_active_deadline",
            "deadline",
            sqlite_where=text(ACTIVE_SQL),
            postgresql_where=text(ACTIVE_SQL),
        ),
        Index("ix_cases_owner_state", "owner", "state"),
        Index(
            "ix_cases_number_state",
            "number",
            "state",
            postgresql_ops={"number": "text_pattern_ops"},
        ),
        Index("ix_cases_opened_at", "opened_at"),
        Index("ix_cases_branch_opened_at", "branch", "opened_at"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    case_no: Mapped[str] = mapped_column(String)
    kind: Mapped[str] = mapped_column(String)
    case_class: Mapped[str] = mapped_column(String)
    state: Mapped[str] = mapped_column(String)
    number: Mapped[str] = mapped_column(String)  # E.164
    matter: Mapped[str] = mapped_column(String)
    owner: Mapped[str] = mapped_column(String, default="", server_default="")
    branch: Mapped[str] = mapped_column(String, default="", server_default="")
    term: Mapped[str] = mapped_column(String)
    opened_by: Mapped[str] = mapped_column(String, default="", server_default="")
    opened_at: Mapped[datetime] = mapped_column(UtcDateTime())
    deadline: Mapped[datetime] = mapped_column(UtcDateTime())
    escalation: Mapped[str] = mapped_column(String, default="none", server_default="none")
    summary: Mapped[str] = mapped_column(String, default="", server_default="")
    updated_at: Mapped[datetime] = mapped_column(UtcDateTime())
    done_at: Mapped[datetime | None] = mapped_column(UtcDateTime())


class CaseCallRow(Base):
    """A call about the case (one case, many calls), by the caller channel's UNIQUEID."""

    __tablename__ = "case_calls"
    __table_args__ = (
        PrimaryKeyConstraint("case_id", "call_uid", name="pk_case_calls"),
        Index("ix_case_calls_call_uid", "call_uid"),
    )

    case_id: Mapped[int] = mapped_column(
        ForeignKey("cases.id", ondelete="CASCADE", name="fk_case_calls_case")
    )
    call_uid: Mapped[str] = mapped_column(String)
    linked_at: Mapped[datetime] = mapped_column(UtcDateTime())


class CaseEventRow(Base):
    """Every change of a case: who, when, what (state, escalation, link, note, owner)."""

    __tablename__ = "case_events"
    __table_args__ = (
        Index("ix_case_events_case", "case_id", "id"),
        # The live pages read the latest escalations: by action, then time.
        Index("ix_case_events_action_at", "action", "at"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    case_id: Mapped[int] = mapped_column(
        ForeignKey("cases.id", ondelete="CASCADE", name="fk_case_events_case")
    )
    at: Mapped[datetime] = mapped_column(UtcDateTime())
    who: Mapped[str] = mapped_column(String)
    action: Mapped[str] = mapped_column(String)
    from_state: Mapped[str | None] = mapped_column(String)
    to_state: Mapped[str | None] = mapped_column(String)
    detail: Mapped[str] = mapped_column(String, default="", server_default="")


CASE_TABLES = frozenset(
    t.__tablename__ for t in (CaseSerialRow, CaseRow, CaseCallRow, CaseEventRow)
)
