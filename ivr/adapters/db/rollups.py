"""Daily call rollups: the report figures per local day, kept correct under rewrites.

A call row changes many times after its first write (placeholder, started, routed,
answered, ended; events replayed or out of order), and may even move to another
day (a placeholder's ``started_at`` is the earliest event seen so far). Instead of
adding and subtracting deltas per event, which double counts as soon as one path
misses the old value, a day's rollup is always *recomputed* from the calls of that
day, and only when something changed:

* the call-log writer bumps a counter per UTC date (`call_rollup_marks`) for the
  old and the new ``started_at`` of every call it changes, in the same transaction
  (`mark_changed`), as the transaction's last statement, so the row lock is held
  for one round trip only;
* a local day's *stamp* is the sum of the counters of the UTC dates it overlaps;
  counters only grow, so any change since makes the sum larger;
* `refresh` reads the stamps, recomputes the days whose stored stamp differs (in a
  read transaction, stamps first: what it computes includes at least every change
  the stamps count), then stores rows and stamps in a short write transaction.
  A change committed in between leaves the stored stamp behind: recomputed next time.

A variant is the site's time zone and the service-level target (both decide which
calls fall in which row): rollups for another target are computed on first use.
Today (and any day a call changed on) is recomputed on the next report: one
indexed query per day.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Any, Final, cast
from zoneinfo import ZoneInfo

from sqlalchemy import Table, and_, case, delete, func, insert, literal_column, select, text
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Connection
from sqlalchemy.orm import Session, sessionmaker

from ivr.adapters.db.engine import READ_ONLY
from ivr.adapters.db.models import Call
from ivr.adapters.db.models_rollups import CallRollup, CallRollupDay, CallRollupMark
from ivr.domain.metrics import (
    ABANDONED_IN_MENU,
    ABANDONED_IN_QUEUE,
    ANSWERED,
    CALLBACK,
    VOICEMAIL,
    Tally,
)

BRANCH: Final = "branch"
AGENT: Final = "agent"
MENU_KEY: Final = "(menu)"  # the branch key of calls that never left the menu
CHUNK_DAYS: Final = 31  # days recomputed per write transaction
_PG_ROLLUP_LOCK: Final = 7_263_114_006  # pg_advisory_xact_lock key of rollup writes

_ROLLUPS: Final = cast(Table, CallRollup.__table__)
_DAYS: Final = cast(Table, CallRollupDay.__table__)
_MARKS: Final = cast(Table, CallRollupMark.__table__)
_COUNTS: Final = (
    "offered",
    "answered",
    "abandoned_in_menu",
    "abandoned_in_queue",
    "abandoned_in_queue_within_target",
    "answered_within_target",
    "voicemail",
    "callback",
)
_SUMS: Final = ("wait_answered_seconds", "talk_seconds")


@dataclass(frozen=True)
class Rollup:
    """The tally of one local day under one branch or agent."""

    day: date
    kind: str  # BRANCH | AGENT
    key: str
    tally: Tally


# --------------------------------------------------------------------------- writer side


# Built once per dialect (postgresql: True), not per batch.
_BUMP: Final = {
    is_pg: (postgresql.insert if is_pg else sqlite.insert)(_MARKS).on_conflict_do_update(
        index_elements=["day"], set_={"gen": _MARKS.c.gen + 1}
    )
    for is_pg in (False, True)
}


def mark_changed(conn: Connection, started: Iterable[datetime]) -> None:
    """Bump the change counter of the UTC date of each `started` (the writer's hook)."""
    days = sorted({t.astimezone(UTC).date() for t in started})
    if not days:
        return
    conn.execute(_BUMP[conn.dialect.name == "postgresql"], [{"day": d, "gen": 1} for d in days])


# --------------------------------------------------------------------------- aggregation


def tally_columns(target_seconds: float) -> list[Any]:
    """The Tally fields of the selected calls as SQL aggregates (in Tally's field order)."""
    wait = func.coalesce(Call.wait_seconds, 0.0)
    is_answered = Call.outcome == ANSWERED
    is_abandoned = Call.outcome == ABANDONED_IN_QUEUE

    def count(cond: Any) -> Any:
        return func.coalesce(func.sum(case((cond, 1), else_=0)), 0)

    return [
        func.count(),
        count(is_answered),
        count(Call.outcome == ABANDONED_IN_MENU),
        count(is_abandoned),
        count(and_(is_abandoned, wait <= target_seconds)),
        count(and_(is_answered, wait <= target_seconds)),
        count(Call.outcome == VOICEMAIL),
        count(Call.outcome == CALLBACK),
        func.coalesce(func.sum(case((is_answered, wait), else_=0.0)), 0.0),
        func.coalesce(
            func.sum(case((is_answered, func.coalesce(Call.talk_seconds, 0.0)), else_=0.0)), 0.0
        ),
    ]


def tally_from(values: Sequence[Any]) -> Tally:
    """A Tally from the values of `tally_columns` (or of a rollup row's counts and sums)."""
    c = [int(x or 0) for x in values[:8]]
    return Tally(
        c[0],
        c[1],
        c[2],
        c[3],
        c[4],
        c[5],
        c[6],
        c[7],
        float(values[8] or 0.0),
        float(values[9] or 0.0),
    )


def _day_bounds(day: date, tz: ZoneInfo) -> tuple[datetime, datetime]:
    return datetime.combine(day, time(0), tz), datetime.combine(
        day + timedelta(days=1), time(0), tz
    )


def live_rollups(conn: Connection, day: date, tz: ZoneInfo, target_seconds: float) -> list[Rollup]:
    """A day's rollups computed from the calls (ended calls started that local day)."""
    start, end = _day_bounds(day, tz)
    in_day = (Call.started_at >= start, Call.started_at < end)
    branch = func.coalesce(func.nullif(Call.branch, ""), literal_column(f"'{MENU_KEY}'"))
    cols = tally_columns(target_seconds)
    out: list[Rollup] = []
    by_branch = select(branch, *cols).where(*in_day, Call.outcome != "in_progress").group_by(branch)
    for row in conn.execute(by_branch):
        out.append(Rollup(day, BRANCH, str(row[0]), tally_from(row[1:])))
    by_agent = (
        select(Call.answered_agent, *cols)
        .where(*in_day, Call.outcome == ANSWERED, Call.answered_agent.is_not(None))
        .group_by(Call.answered_agent)
    )
    for row in conn.execute(by_agent):
        out.append(Rollup(day, AGENT, str(row[0]), tally_from(row[1:])))
    return out


# --------------------------------------------------------------------------- stamps and refresh


def variant(tz: ZoneInfo, target_seconds: float) -> str:
    """The rollups' key for a time zone and service-level target."""
    return f"{tz.key}|{float(target_seconds)!r}"


def utc_dates(day: date, tz: ZoneInfo) -> list[date]:
    """The UTC dates the local `day` overlaps (one or two)."""
    start, end = _day_bounds(day, tz)
    first = start.astimezone(UTC).date()
    last = (end - timedelta(microseconds=1)).astimezone(UTC).date()
    return [first + timedelta(days=i) for i in range((last - first).days + 1)]


def _days(first: date, last: date) -> list[date]:
    return [first + timedelta(days=i) for i in range((last - first).days + 1)]


def stamps(conn: Connection, days: Sequence[date], tz: ZoneInfo) -> dict[date, int]:
    """Each local day's change stamp: the sum of its UTC dates' counters."""
    if not days:
        return {}
    lo, hi = min(days) - timedelta(days=1), max(days) + timedelta(days=1)
    gens = {
        d: int(g)
        for d, g in conn.execute(
            select(_MARKS.c.day, _MARKS.c.gen).where(_MARKS.c.day >= lo, _MARKS.c.day <= hi)
        )
    }
    return {d: sum(gens.get(u, 0) for u in utc_dates(d, tz)) for d in days}


def stale_days(
    conn: Connection, tz: ZoneInfo, target_seconds: float, first: date, last: date
) -> dict[date, int]:
    """The days of [first, last] whose rollups are missing or older than their stamp."""
    days = _days(first, last)
    want = stamps(conn, days, tz)
    have = {
        d: int(s)
        for d, s in conn.execute(
            select(_DAYS.c.day, _DAYS.c.stamp).where(
                _DAYS.c.variant == variant(tz, target_seconds),
                _DAYS.c.day >= first,
                _DAYS.c.day <= last,
            )
        )
    }
    return {d: want[d] for d in days if have.get(d) != want[d]}


def refresh(
    sessions: sessionmaker[Session], tz: ZoneInfo, target_seconds: float, first: date, last: date
) -> int:
    """Recompute the stale days of [first, last]; the number of days recomputed."""
    v = variant(tz, target_seconds)
    with sessions() as s:
        conn = s.connection(execution_options=READ_ONLY)
        stale = stale_days(conn, tz, target_seconds, first, last)
    todo = sorted(stale)
    for i in range(0, len(todo), CHUNK_DAYS):
        chunk = todo[i : i + CHUNK_DAYS]
        with sessions() as s:  # one snapshot: stamps first, then the calls
            conn = s.connection(execution_options=READ_ONLY)
            fresh = stamps(conn, chunk, tz)
            rows = [r for d in chunk for r in live_rollups(conn, d, tz, target_seconds)]
        with sessions.begin() as s:
            _store(s.connection(), v, chunk, fresh, rows)
    return len(todo)


def _store(
    conn: Connection, v: str, days: Sequence[date], fresh: dict[date, int], rows: Sequence[Rollup]
) -> None:
    if conn.dialect.name == "postgresql":
        conn.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": _PG_ROLLUP_LOCK})
    conn.execute(delete(_ROLLUPS).where(_ROLLUPS.c.variant == v, _ROLLUPS.c.day.in_(days)))
    conn.execute(delete(_DAYS).where(_DAYS.c.variant == v, _DAYS.c.day.in_(days)))
    if rows:
        conn.execute(
            insert(_ROLLUPS),
            [
                {"variant": v, "day": r.day, "kind": r.kind, "key": r.key, **_tally_dict(r.tally)}
                for r in rows
            ],
        )
    conn.execute(insert(_DAYS), [{"variant": v, "day": d, "stamp": fresh[d]} for d in days])


def _tally_dict(t: Tally) -> dict[str, Any]:
    return {f: getattr(t, f) for f in (*_COUNTS, *_SUMS)}


def read(
    sessions: sessionmaker[Session], tz: ZoneInfo, target_seconds: float, first: date, last: date
) -> list[Rollup]:
    """The stored rollups of [first, last] (call `refresh` first), by day, kind, key."""
    cols = [getattr(_ROLLUPS.c, f) for f in (*_COUNTS, *_SUMS)]
    q = (
        select(_ROLLUPS.c.day, _ROLLUPS.c.kind, _ROLLUPS.c.key, *cols)
        .where(
            _ROLLUPS.c.variant == variant(tz, target_seconds),
            _ROLLUPS.c.day >= first,
            _ROLLUPS.c.day <= last,
        )
        .order_by(_ROLLUPS.c.day, _ROLLUPS.c.kind, _ROLLUPS.c.key)
    )
    with sessions() as s:
        conn = s.connection(execution_options=READ_ONLY)
        return [Rollup(r[0], r[1], r[2], tally_from(r[3:])) for r in conn.execute(q)]


def current(
    sessions: sessionmaker[Session], tz: ZoneInfo, target_seconds: float, first: date, last: date
) -> list[Rollup]:
    """Up-to-date rollups of [first, last]: stale days recomputed, then read."""
    refresh(sessions, tz, target_seconds, first, last)
    return read(sessions, tz, target_seconds, first, last)


@dataclass(frozen=True)
class Summary:
    """A range's figures as the reports group them, summed by the database."""

    days: list[tuple[date, Tally]]  # every call, per local day
    branches: list[tuple[str, Tally]]  # per branch key, (menu) included
    agents: list[tuple[str, Tally]]  # answered calls per agent


def summary(
    sessions: sessionmaker[Session], tz: ZoneInfo, target_seconds: float, first: date, last: date
) -> Summary:
    """Up-to-date figures of [first, last] per day, branch and agent: stale days
    recomputed, then three GROUP BY queries over the rollups (a few hundred rows back)."""
    refresh(sessions, tz, target_seconds, first, last)
    sums = [func.sum(getattr(_ROLLUPS.c, f)) for f in (*_COUNTS, *_SUMS)]
    in_range = (
        _ROLLUPS.c.variant == variant(tz, target_seconds),
        _ROLLUPS.c.day >= first,
        _ROLLUPS.c.day <= last,
    )

    def grouped(column: Any, kind: str) -> Any:
        return (
            select(column, *sums)
            .where(*in_range, _ROLLUPS.c.kind == kind)
            .group_by(column)
            .order_by(column)
        )

    with sessions() as s:
        conn = s.connection(execution_options=READ_ONLY)
        days = [(r[0], tally_from(r[1:])) for r in conn.execute(grouped(_ROLLUPS.c.day, BRANCH))]
        branches = [
            (str(r[0]), tally_from(r[1:])) for r in conn.execute(grouped(_ROLLUPS.c.key, BRANCH))
        ]
        agents = [
            (str(r[0]), tally_from(r[1:])) for r in conn.execute(grouped(_ROLLUPS.c.key, AGENT))
        ]
    return Summary(days, branches, agents)
