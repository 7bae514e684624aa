"""Call-log queries of the web app: the filtered list, today's statistics, live calls.

These are the queries `hotline bench calllog` measures. Each uses an index of
migration 0001 (started_at, caller+started_at, answered_agent+started_at,
outcome+started_at).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import and_, func, or_, select
from sqlalchemy.orm import Session

from ivr.adapters.db import rollups
from ivr.adapters.db.engine import READ_ONLY
from ivr.adapters.db.models import Call
from ivr.adapters.db.models_callbacks import CallbackRequestRow
from ivr.domain.callbacks import OPEN_STATES
from ivr.domain.calllog import Outcome
from ivr.domain.metrics import ANSWERED, CallFact, ServiceTarget, Tally
from ivr.domain.routing import WAITING_ROUTE_KINDS

WAITING_KINDS = WAITING_ROUTE_KINDS
LIVE_WINDOW = timedelta(hours=12)  # a call still open after this is a stale record
EXPORT_CHUNK = 2000  # rows per query of a streamed export


@dataclass(frozen=True)
class CallFilter:
    start: datetime | None = None
    end: datetime | None = None
    number: str = ""  # prefix of the caller number, as stored
    numbers: tuple[str, ...] = ()  # or any of these prefixes (web.calls.number_prefixes)
    agent: str = ""
    branch: str = ""
    outcome: str = ""


@dataclass(frozen=True)
class CallRow:
    uid: str
    started_at: datetime
    caller: str
    branch: str | None
    route_kind: str | None
    outcome: str
    agent: str | None
    seat: str | None
    wait_seconds: float | None
    talk_seconds: float | None
    vip: bool


_ROW_COLUMNS = (
    Call.uid,
    Call.started_at,
    Call.caller,
    Call.branch,
    Call.route_kind,
    Call.outcome,
    Call.answered_agent,
    Call.answered_seat,
    Call.wait_seconds,
    Call.talk_seconds,
    Call.vip,
)


def _filtered(f: CallFilter, only_agent: str | None, *extra: Any) -> Any:
    q = select(*_ROW_COLUMNS, *extra)
    if only_agent is not None:
        q = q.where(Call.answered_agent == only_agent)
    if f.agent:
        q = q.where(Call.answered_agent == f.agent)
    if f.start is not None:
        q = q.where(Call.started_at >= f.start)
    if f.end is not None:
        q = q.where(Call.started_at < f.end)
    prefixes = [p for p in (f.number, *f.numbers) if p]
    if prefixes:
        # ranges instead of LIKE: they use the (caller, started_at) index on both backends
        q = q.where(
            or_(
                *(
                    and_(Call.caller >= p, Call.caller < p[:-1] + chr(ord(p[-1]) + 1))
                    for p in prefixes
                )
            )
        )
    if f.branch:
        q = q.where(Call.branch == f.branch)
    if f.outcome:
        q = q.where(Call.outcome == f.outcome)
    return q.order_by(Call.started_at.desc(), Call.id.desc())


def list_calls(
    s: Session, f: CallFilter, only_agent: str | None, page: int, per_page: int
) -> tuple[list[CallRow], bool]:
    """One page (from 1) of matching calls, newest first, and whether a next page exists."""
    q = _filtered(f, only_agent).offset((max(1, page) - 1) * per_page).limit(per_page + 1)
    rows = [CallRow(*r) for r in s.execute(q)]
    return rows[:per_page], len(rows) > per_page


def iter_calls(
    sessions: Callable[[], Session],
    f: CallFilter,
    only_agent: str | None,
    limit: int,
    chunk: int | None = None,
) -> Iterator[CallRow]:
    """Up to `limit` matching calls, newest first, `chunk` rows at a time (bounded memory).

    Each chunk is its own short query (keyset: after the last (started_at, id) sent) in
    its own session, so a slow download holds no connection or snapshot, and the heavy
    pool's statement timeout applies to a chunk, not to the whole export.
    """
    chunk = chunk or EXPORT_CHUNK
    after: tuple[datetime, int] | None = None
    left = limit
    while left > 0:
        q = _filtered(f, only_agent, Call.id)
        if after is not None:
            t, i = after
            q = q.where(or_(Call.started_at < t, and_(Call.started_at == t, Call.id < i)))
        with sessions() as s:
            s.connection(execution_options=READ_ONLY)
            rows = s.execute(q.limit(min(chunk, left))).all()
        for r in rows:
            yield CallRow(*r[:-1])
        if len(rows) < min(chunk, left):
            return
        left -= len(rows)
        after = (rows[-1].started_at, rows[-1][-1])


def sql_tally(s: Session, start: datetime, end: datetime, target: ServiceTarget) -> Tally:
    """The report counts of calls started in [start, end) and ended, in one aggregate query."""
    q = select(*rollups.tally_columns(target.seconds)).where(
        Call.started_at >= start, Call.started_at < end, Call.outcome != "in_progress"
    )
    return rollups.tally_from(s.execute(q).one())


def facts(s: Session, start: datetime, end: datetime) -> list[CallFact]:
    """The ended calls started in [start, end), as report facts."""
    q = select(
        Call.started_at,
        Call.outcome,
        Call.wait_seconds,
        Call.talk_seconds,
        Call.branch,
        Call.answered_agent,
    ).where(Call.started_at >= start, Call.started_at < end, Call.outcome != "in_progress")
    return [CallFact(*r) for r in s.execute(q)]


def call_starts(s: Session, start: datetime, end: datetime) -> list[datetime]:
    q = select(Call.started_at).where(Call.started_at >= start, Call.started_at < end)
    return list(s.scalars(q))


def mean_talk(s: Session, start: datetime, end: datetime) -> float | None:
    q = select(func.avg(Call.talk_seconds)).where(
        Call.started_at >= start, Call.started_at < end, Call.outcome == ANSWERED
    )
    v = s.scalar(q)
    return float(v) if v is not None else None


@dataclass(frozen=True)
class LiveCall:
    uid: str
    caller: str
    branch: str | None
    route_kind: str | None
    routed_at: datetime | None
    answered_at: datetime | None
    seat: str | None
    agent: str | None
    vip: bool
    started_at: datetime


def shed_since(s: Session, since: datetime) -> int:
    """Calls turned away by admission control (outcome shed) since `since`."""
    q = select(func.count()).where(Call.outcome == Outcome.SHED.value, Call.started_at >= since)
    return int(s.execute(q).scalar_one())


def live_calls(s: Session, now: datetime) -> list[LiveCall]:
    """Calls not yet ended (started within the last 12 h): in the menu, waiting or talking."""
    q = (
        select(
            Call.uid,
            Call.caller,
            Call.branch,
            Call.route_kind,
            Call.routed_at,
            Call.answered_at,
            Call.answered_seat,
            Call.answered_agent,
            Call.vip,
            Call.started_at,
        )
        .where(Call.started_at >= now - LIVE_WINDOW, Call.ended_at.is_(None))
        .order_by(Call.started_at)
    )
    return [LiveCall(*r) for r in s.execute(q)]  # type: ignore[call-arg]


def is_waiting(c: LiveCall) -> bool:
    return c.answered_at is None and c.route_kind in WAITING_KINDS


def agent_active_call(s: Session, agent_id: str, now: datetime) -> LiveCall | None:
    return next(
        (c for c in live_calls(s, now) if c.agent == agent_id and c.answered_at is not None),
        None,
    )


@dataclass(frozen=True)
class CallbackDue:
    id: int
    number: str
    matter: str
    state: str
    branch: str
    due_at: datetime | None


def callbacks_due(s: Session, agent_id: str, now: datetime, limit: int = 50) -> list[CallbackDue]:
    """Open callback requests (the dialer's ledger) from callers this agent answered in
    the last 30 days: first-contact responsibility makes them the agent's matters."""
    owned = (
        select(Call.caller)
        .where(Call.answered_agent == agent_id, Call.started_at >= now - timedelta(days=30))
        .distinct()
    )
    open_states = sorted(state.value for state in OPEN_STATES)
    q = (
        select(
            CallbackRequestRow.id,
            CallbackRequestRow.number,
            CallbackRequestRow.matter,
            CallbackRequestRow.state,
            CallbackRequestRow.branch,
            CallbackRequestRow.due_at,
        )
        .where(CallbackRequestRow.state.in_(open_states), CallbackRequestRow.number.in_(owned))
        .order_by(CallbackRequestRow.due_at, CallbackRequestRow.id)
        .limit(limit)
    )
    return [CallbackDue(*row) for row in s.execute(q)]
