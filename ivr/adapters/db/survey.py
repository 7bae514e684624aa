"""The satisfaction survey in the database: one row per surveyed call.

`record` is idempotent and race-safe: the row is inserted with ``ON CONFLICT
(call_uid) DO NOTHING``, so a second survey of the same call (a replay, a dialplan
loop) never makes a second row; the first one written stands.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Final, cast

from sqlalchemy import Table, case, func, literal, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session, sessionmaker

from ivr.adapters.db.engine import READ_ONLY
from ivr.adapters.db.models import NaiveDatetimeError
from ivr.adapters.db.models_survey import SurveyRow
from ivr.domain.survey import SurveyOutcome, SurveyResult
from ivr.domain.text import logged

log = logging.getLogger(__name__)
_SURVEYS: Final = cast(Table, SurveyRow.__table__)


class SqlSurveys:
    def __init__(self, session_factory: sessionmaker[Session]) -> None:
        self._sessions = session_factory

    def record(self, result: SurveyResult) -> bool:
        """Store a call's survey; False when the call already has one (it is kept)."""
        for at in (result.started_at, result.ended_at):
            if at.tzinfo is None or at.utcoffset() is None:
                raise NaiveDatetimeError(
                    f"survey of call {result.call_uid}: naive {at.isoformat()}"
                )
        row = {
            "call_uid": result.call_uid,
            "branch": result.branch,
            "seat": result.seat,
            "agent_id": result.agent_id,
            "case_uid": result.case_uid,
            "language": result.language,
            "outcome": result.outcome.value,
            "score": result.score,
            "scale_high": result.scale_high,
            "keys": result.keys[:20],
            "started_at": result.started_at,
            "ended_at": result.ended_at,
        }
        with self._sessions.begin() as s:
            conn = s.connection()
            upsert = postgresql.insert if conn.dialect.name == "postgresql" else sqlite.insert
            # RETURNING, not rowcount: psycopg reports -1 for a conflict skipped.
            stmt = upsert(_SURVEYS).on_conflict_do_nothing(index_elements=["call_uid"])
            return conn.execute(stmt.returning(_SURVEYS.c.id), row).first() is not None

    def get(self, call_uid: str) -> SurveyResult | None:
        with self._sessions() as s:
            s.connection(execution_options=READ_ONLY)
            row = s.scalars(select(SurveyRow).where(SurveyRow.call_uid == call_uid)).one_or_none()
            return None if row is None else _result(row)

    def between(self, start: datetime, end: datetime) -> list[SurveyResult]:
        """Surveys that ended in [start, end), oldest first."""
        with self._sessions() as s:
            s.connection(execution_options=READ_ONLY)
            return survey_rows(s, start, end)


def survey_rows(s: Session, start: datetime, end: datetime) -> list[SurveyResult]:
    """Surveys that ended in [start, end), in the caller's session (the web's unit of work)."""
    rows = s.scalars(
        select(SurveyRow)
        .where(SurveyRow.ended_at >= start, SurveyRow.ended_at < end)
        .order_by(SurveyRow.ended_at, SurveyRow.id)
    )
    return [_result(r) for r in rows]


@dataclass(frozen=True)
class SurveyGroup:
    """How many surveys share an agent, seat, branch, outcome, score and period."""

    agent_id: str
    seat: str
    branch: str
    outcome: SurveyOutcome
    score: int | None
    period: int  # index into the period starts given to `survey_groups`
    count: int


def survey_groups(
    s: Session, start: datetime, end: datetime, period_starts: Sequence[datetime]
) -> list[SurveyGroup]:
    """Surveys that ended in [start, end), counted in SQL per agent, seat, branch,
    outcome, score and period (period i runs from period_starts[i] to the next; the
    bounds come from the caller, so periods follow the site's zone on both stores)."""
    t = _SURVEYS.c
    edges = list(period_starts[1:])
    period = (
        case(*((t.ended_at < edge, i) for i, edge in enumerate(edges)), else_=len(edges))
        if edges
        else literal(0)
    ).label("period")
    keys = (t.agent_id, t.seat, t.branch, t.outcome, t.score, period)
    rows = s.execute(
        select(*keys, func.count()).where(t.ended_at >= start, t.ended_at < end).group_by(*keys)
    )
    outcomes = {o.value: o for o in SurveyOutcome}
    return [
        SurveyGroup(a, seat, b, outcomes[o], sc, int(p), int(n)) for a, seat, b, o, sc, p, n in rows
    ]


def day_counts(
    s: Session, start: datetime, end: datetime, satisfied_from: int
) -> tuple[int, int, int]:
    """(scored, satisfied, not resolved) among surveys ended in [start, end): one
    aggregate query, cheap enough for every board snapshot."""
    scored = SurveyRow.outcome == SurveyOutcome.SCORED.value
    row = s.execute(
        select(
            func.count(case((scored, 1))),
            func.count(case((scored & (SurveyRow.score >= satisfied_from), 1))),
            func.count(case((SurveyRow.outcome == SurveyOutcome.NOT_RESOLVED.value, 1))),
        ).where(SurveyRow.ended_at >= start, SurveyRow.ended_at < end)
    ).one()
    return int(row[0]), int(row[1]), int(row[2])


def _result(row: SurveyRow) -> SurveyResult:
    fields: dict[str, Any] = {
        "call_uid": row.call_uid,
        "branch": row.branch,
        "seat": row.seat,
        "agent_id": row.agent_id,
        "language": row.language,
        "outcome": SurveyOutcome(row.outcome),
        "score": row.score,
        "keys": row.keys,
        "started_at": row.started_at,
        "ended_at": row.ended_at,
        "scale_high": row.scale_high,
        "case_uid": row.case_uid,
    }
    return SurveyResult(**fields)


@dataclass(frozen=True)
class FlagNotResolved:
    """The `NotResolved` port: the survey row already says `not_resolved` (the
    reports and the board count it); this logs a warning for the supervisor, naming
    the call, then hands the call to `then` (the case use case: the case linked to
    the call is reopened or escalated). A failure there is logged, never the
    caller's problem."""

    then: Callable[[str], object] | None = None

    def __call__(self, call_uid: str) -> None:
        log.warning(
            "call %s: the caller says the matter is not resolved (survey)", logged(call_uid)
        )
        if self.then is None:
            return
        try:
            self.then(call_uid)
        except Exception:  # the survey goes on: its row already says not_resolved
            log.exception("call %s: the case could not be reopened or escalated", logged(call_uid))
