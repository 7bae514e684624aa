"""Daily rollups (ivr/adapters/db/rollups.py) equal a live aggregation over the calls
table after any sequence of call-log events, on SQLite and PostgreSQL.

The events are those the FastAGI server and AMI listener write: replayed, out of
order, in random batches, calls moving from "in menu" to answered or abandoned and
placeholders moving across the local midnight; the rollups are refreshed between
batches, so a day rolled up and then changed must be recomputed, never counted twice.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import delete
from sqlalchemy.orm import Session, sessionmaker

from ivr.adapters.db import rollups
from ivr.adapters.db.calllog import SqlCallLog
from ivr.adapters.db.models import Call, CallStep, RoutingDecision
from ivr.adapters.db.models_rollups import CallRollup, CallRollupDay, CallRollupMark
from ivr.domain import metrics
from ivr.domain.calllog import (
    SOURCE_AMI,
    CallAnswered,
    CallEnded,
    CallEvent,
    CallStarted,
    Outcome,
    Routed,
)
from ivr.domain.metrics import ServiceTarget, Tally
from web import queries

TZ = ZoneInfo("Asia/Shanghai")
MIDNIGHT = datetime(2026, 11, 23, 16, 0, tzinfo=UTC)  # 2026-11-24 00:00 in Shanghai
UTC_MIDNIGHT = MIDNIGHT + timedelta(hours=8)  # 08:00 in Shanghai: the UTC date changes
FIRST, LAST = date(2026, 11, 22), date(2026, 11, 25)
TARGET = 20.0
BRANCHES = ("enquiries", "repairs", "")
KINDS = ("queue", "queue", "callback", "voicemail", "seat")
AGENTS = ("chen", "li", "")
STATED = (None, None, None, Outcome.ABANDONED_IN_MENU.value, Outcome.CALLBACK_REQUESTED.value)


@st.composite
def call_events(draw: st.DrawFn, uid: str) -> list[CallEvent]:
    """Some of the events of one call, with times around the local or the UTC midnight."""
    anchor = draw(st.sampled_from((MIDNIGHT, UTC_MIDNIGHT)))

    def _at(seconds: int) -> datetime:
        return anchor + timedelta(seconds=seconds)

    # the rest of the call after its start: a minute or two, or (a call held for hours,
    # a clock gone wrong) past the next local or UTC midnight
    gap = draw(st.sampled_from((0, 0, 9 * 3600, 30 * 3600)))

    def later() -> int:
        return gap + draw(st.integers(0, 120))

    t0 = draw(st.integers(-90, 60))
    events: list[CallEvent] = []
    if draw(st.integers(0, 3)):  # mostly; without it the row stays a placeholder
        source = draw(st.sampled_from(("fastagi", SOURCE_AMI)))
        events.append(CallStarted(uid, _at(t0), "13800000001", source=source))
    if draw(st.booleans()):
        events.append(
            Routed(
                uid,
                _at(t0 + later()),
                draw(st.sampled_from(BRANCHES)),
                draw(st.sampled_from(KINDS)),
                "q",
            )
        )
    if draw(st.booleans()):
        agent = draw(st.sampled_from(AGENTS))
        events.append(CallAnswered(uid, _at(t0 + later()), "s1", agent))
    if draw(st.booleans()):
        ended = CallEnded(uid, _at(t0 + later()), "16")
        events.append(ended)
        stated = draw(st.sampled_from(STATED))
        if stated is not None:
            events.append(CallEnded(uid, _at(t0 + later()), "", stated))
    if draw(st.booleans()) and events:  # a replay (spool) of one event
        events.append(draw(st.sampled_from(events)))
    return events


@st.composite
def histories(draw: st.DrawFn) -> list[list[CallEvent]]:
    """Events of up to 4 calls, shuffled and cut into batches; sometimes every CallStarted
    comes last, in a batch of its own (the AMI listener ahead of the FastAGI server):
    the placeholders then move to their real start, often on another day."""
    n = draw(st.integers(1, 4))
    events = [e for i in range(n) for e in draw(call_events(f"c{i}"))]
    events = list(draw(st.permutations(events)))
    late: list[CallEvent] = []
    if draw(st.booleans()):
        late = [e for e in events if isinstance(e, CallStarted)]
        events = [e for e in events if not isinstance(e, CallStarted)]
    cuts = sorted(draw(st.lists(st.integers(0, len(events)), max_size=8)))
    bounds = [0, *cuts, len(events)]
    batches = [list(events[a:b]) for a, b in zip(bounds, bounds[1:], strict=False) if b > a]
    return [*batches, late] if late else batches


def _live(sessions: sessionmaker[Session]) -> dict[tuple[date, str, str], Tally]:
    """The rollups computed the reports' old way: every ended call through metrics."""
    start = datetime.combine(FIRST, datetime.min.time(), TZ)
    end = datetime.combine(LAST + timedelta(days=1), datetime.min.time(), TZ)
    target = ServiceTarget(TARGET)
    with sessions() as s:
        facts = queries.facts(s, start, end)  # what the reports read before the rollups
    out: dict[tuple[date, str, str], Tally] = {}
    for f in facts:
        day = f.started_at.astimezone(TZ).date()
        keys = [(day, rollups.BRANCH, f.branch or rollups.MENU_KEY)]
        if f.outcome == metrics.ANSWERED and f.agent is not None:
            keys.append((day, rollups.AGENT, f.agent))
        for k in keys:
            out[k] = out.get(k, Tally()) + metrics.tally_one(f, target)
    return out


def _rolled(sessions: sessionmaker[Session]) -> dict[tuple[date, str, str], Tally]:
    return {
        (r.day, r.kind, r.key): r.tally for r in rollups.current(sessions, TZ, TARGET, FIRST, LAST)
    }


def _same(a: dict[tuple[date, str, str], Tally], b: dict[tuple[date, str, str], Tally]) -> None:
    assert a.keys() == b.keys()
    for k in a:
        x, y = a[k], b[k]
        assert x.offered == y.offered and x.answered == y.answered, k
        assert (x.abandoned_in_menu, x.abandoned_in_queue, x.voicemail, x.callback) == (
            y.abandoned_in_menu,
            y.abandoned_in_queue,
            y.voicemail,
            y.callback,
        ), k
        assert x.answered_within_target == y.answered_within_target, k
        assert x.abandoned_in_queue_within_target == y.abandoned_in_queue_within_target, k
        assert x.wait_answered_seconds == pytest.approx(y.wait_answered_seconds), k
        assert x.talk_seconds == pytest.approx(y.talk_seconds), k


def _wipe(sessions: sessionmaker[Session]) -> None:
    with sessions.begin() as s:
        for model in (CallStep, RoutingDecision, Call, CallRollup, CallRollupDay, CallRollupMark):
            s.execute(delete(model))


@settings(
    max_examples=100,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(history=histories())
def test_rollups_equal_a_live_aggregation_after_any_event_sequence(
    session_factory: sessionmaker[Session], history: list[list[CallEvent]]
) -> None:
    sessions = session_factory
    _wipe(sessions)
    log = SqlCallLog(sessions)
    for batch in history:
        log.record_many(batch)
        _same(_rolled(sessions), _live(sessions))  # refreshed between batches
    for batch in history:  # the whole history replayed: nothing may change
        log.record_many(batch)
    _same(_rolled(sessions), _live(sessions))


def test_a_call_that_ends_after_its_day_was_rolled_up_is_counted_once(
    session_factory: sessionmaker[Session],
) -> None:
    log = SqlCallLog(session_factory)
    t = MIDNIGHT + timedelta(hours=2)
    log.record_many([CallStarted("a", t, "13800000001"), Routed("a", t, "repairs", "queue", "q")])
    assert _rolled(session_factory) == {}  # in progress: not in reports
    log.record(CallAnswered("a", t + timedelta(seconds=12), "s1", "chen"))
    log.record(CallEnded("a", t + timedelta(seconds=100), "16"))
    day = t.astimezone(TZ).date()
    got = _rolled(session_factory)
    assert got[(day, rollups.BRANCH, "repairs")].offered == 1
    assert got[(day, rollups.BRANCH, "repairs")].answered_within_target == 1
    assert got[(day, rollups.AGENT, "chen")].talk_seconds == pytest.approx(88.0)
    log.record(CallEnded("a", t + timedelta(seconds=100), "16"))  # replayed
    assert _rolled(session_factory) == got
    # stored: a second read recomputes nothing
    assert rollups.refresh(session_factory, TZ, TARGET, FIRST, LAST) == 0


@pytest.mark.parametrize("hours", [0, 8, 32], ids=["local-midnight", "utc-midnight", "a-day"])
def test_a_placeholder_that_moves_to_an_earlier_day_leaves_the_first_one(
    session_factory: sessionmaker[Session], hours: int
) -> None:
    """The AMI's CallEnded arrives first (placeholder after midnight); CallStarted then
    puts the call on the day before (a call started before midnight, ended after)."""
    log = SqlCallLog(session_factory)
    end = MIDNIGHT + timedelta(hours=hours, seconds=30)
    log.record(CallEnded("m", end, "16"))
    first = _rolled(session_factory)
    assert [k[0] for k in first] == [end.astimezone(TZ).date()]
    log.record(CallStarted("m", end - timedelta(hours=hours, seconds=60), "13800000001"))
    moved = _rolled(session_factory)
    assert [k[0] for k in moved] == [date(2026, 11, 23)]
    assert sum(t.offered for t in moved.values()) == 1
    _same(moved, _live(session_factory))


def test_rollups_of_another_target_are_their_own(session_factory: sessionmaker[Session]) -> None:
    log = SqlCallLog(session_factory)
    t = MIDNIGHT + timedelta(hours=3)
    log.record_many(
        [
            CallStarted("w", t, "13800000001"),
            Routed("w", t, "repairs", "queue", "q"),
            CallAnswered("w", t + timedelta(seconds=15), "s1", "li"),
            CallEnded("w", t + timedelta(seconds=60), "16"),
        ]
    )
    day = t.astimezone(TZ).date()
    at20 = rollups.current(session_factory, TZ, 20.0, day, day)
    at10 = rollups.current(session_factory, TZ, 10.0, day, day)
    assert {r.tally.answered_within_target for r in at20} == {1}
    assert {r.tally.answered_within_target for r in at10} == {0}


def test_utc_dates_of_a_local_day() -> None:
    assert rollups.utc_dates(date(2026, 11, 24), TZ) == [date(2026, 11, 23), date(2026, 11, 24)]
    assert rollups.utc_dates(date(2026, 11, 24), ZoneInfo("UTC")) == [date(2026, 11, 24)]


def test_concurrent_refreshes_and_writes_neither_fail_nor_lose_a_change(
    session_factory: sessionmaker[Session],
) -> None:
    """Four report threads refresh the same days while a writer ends calls on them: no
    duplicate-key error between refreshers, and the rollups end equal to the calls."""
    import threading

    log = SqlCallLog(session_factory)
    errors: list[BaseException] = []
    stop = threading.Event()

    def reader() -> None:
        try:
            while not stop.is_set():
                rollups.current(session_factory, TZ, TARGET, FIRST, LAST)
        except BaseException as e:  # noqa: BLE001 (reported below)
            errors.append(e)

    threads = [threading.Thread(target=reader) for _ in range(4)]
    for th in threads:
        th.start()
    try:
        for i in range(40):
            t = MIDNIGHT + timedelta(minutes=37 * i - 600)
            log.record_many(
                [
                    CallStarted(f"x{i}", t, "13800000001"),
                    Routed(f"x{i}", t, BRANCHES[i % 3], "queue", "q"),
                ]
            )
            log.record(CallEnded(f"x{i}", t + timedelta(seconds=30 + i), "16"))
    finally:
        stop.set()
        for th in threads:
            th.join()
    assert errors == []
    got = _rolled(session_factory)
    _same(got, _live(session_factory))
    assert sum(t.offered for (_, kind, _), t in got.items() if kind == rollups.BRANCH) == 40
