"""A call's times stay in order in the call log, whatever the events' order and clocks
(SQLite and PostgreSQL): started_at <= routed_at <= answered_at <= ended_at, the
present ones. The rule is the merge's (ivr/adapters/db/calllog.py, module docstring):
what the row holds stands, a newcomer's time gives way to it."""

from __future__ import annotations

import itertools
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from ivr.adapters.db.calllog import CallRecord, SqlCallLog
from ivr.adapters.db.models import Call
from ivr.domain.calllog import (
    SOURCE_AMI,
    SOURCE_TWILIO,
    SOURCE_TWILIO_STATUS,
    CallAnswered,
    CallEnded,
    CallEvent,
    CallStarted,
    MenuStep,
    Outcome,
    Routed,
)

T0 = datetime(2026, 11, 23, 15, 59, 30, tzinfo=UTC)  # half a minute before Shanghai's midnight
DAY = 86400
STRONG = ("fastagi", SOURCE_TWILIO, "dialer")
WEAK = (SOURCE_AMI, SOURCE_TWILIO_STATUS)
_UIDS = itertools.count()


def at(seconds: float) -> datetime:
    return T0 + timedelta(seconds=seconds)


def assert_in_order(rec: CallRecord) -> None:
    """started <= routed <= answered <= ended (those present), and the derived seconds
    are those of the row's own times."""
    times = [rec.started_at, rec.routed_at, rec.answered_at, rec.ended_at]
    present = [t for t in times if t is not None]
    assert present == sorted(present), times
    if rec.ended_at is None:
        assert rec.outcome is Outcome.IN_PROGRESS
    waited_until = rec.answered_at or rec.ended_at
    if rec.routed_at is not None and waited_until is not None:
        assert rec.wait_seconds == (waited_until - rec.routed_at).total_seconds() >= 0
    else:
        assert rec.wait_seconds is None
    if rec.answered_at is not None and rec.ended_at is not None:
        assert rec.talk_seconds == (rec.ended_at - rec.answered_at).total_seconds() >= 0
    else:
        assert rec.talk_seconds is None


# --------------------------------------------------------------------------- property


@st.composite
def one_call(draw: st.DrawFn, uid: str, agree: bool) -> list[CallEvent]:
    """Some events of one call. `agree`: the clocks agree (every start before every
    routing, before every answer, before every end; at most one start of each strength);
    otherwise every event's clock may be off by seconds or a day either way."""

    def when(lo: int, hi: int) -> datetime:
        if agree:
            return at(draw(st.integers(lo, hi)))
        skew = draw(st.sampled_from((0, 0, 0, -30, 45, -DAY, DAY)))
        return at(draw(st.integers(0, 70)) + skew)

    events: list[CallEvent] = []
    if agree:  # one strong and one weak at most: "first start wins" is then order-free
        starts = [s for s in (draw(st.sampled_from(STRONG)), SOURCE_AMI) if draw(st.booleans())]
    else:
        starts = draw(st.lists(st.sampled_from((*STRONG, *WEAK)), max_size=3))
    for source in starts:
        events.append(CallStarted(uid, when(0, 10), "13800000001", source=source))
    for seq in range(1, draw(st.integers(0, 2)) + 1):
        events.append(MenuStep(uid, seq, when(11, 70), "main", "key", key="1"))
    for _ in range(draw(st.integers(0, 2))):
        events.append(Routed(uid, when(20, 30), "repairs", "queue", "repairs-q"))
    for n in range(draw(st.integers(0, 2))):
        events.append(CallAnswered(uid, when(40, 50), f"seat-{n}", "chen"))
    for _ in range(draw(st.integers(0, 2))):
        outcome = draw(st.sampled_from((None, None, Outcome.CALLBACK_REQUESTED)))
        events.append(CallEnded(uid, when(60, 70), "16", outcome))
    if events and draw(st.booleans()):  # a replay (spool) of one of them
        events.append(draw(st.sampled_from(events)))
    return events


@st.composite
def deliveries(draw: st.DrawFn) -> tuple[bool, list[CallEvent], list[list[CallEvent]]]:
    """Whether the clocks agree, the events, and the same events shuffled into batches."""
    agree = draw(st.booleans())
    events = draw(one_call(f"order-{next(_UIDS)}", agree).filter(bool))
    shuffled = list(draw(st.permutations(events)))
    cuts = sorted(draw(st.lists(st.integers(0, len(shuffled)), max_size=5)))
    bounds = [0, *cuts, len(shuffled)]
    batches = [shuffled[a:b] for a, b in itertools.pairwise(bounds) if b > a]
    return agree, events, batches


def expected_times(events: list[CallEvent]) -> tuple[datetime, ...]:
    """Clocks that agree: nothing moves. The strong start, else the weak one, else the
    earliest time seen; the earliest routing, answer and end."""
    starts = [e for e in events if isinstance(e, CallStarted)]
    strong = [e.at for e in starts if e.source in STRONG]
    started = (strong or [e.at for e in starts] or [min(e.at for e in events)])[0]

    def first(kind: type) -> tuple[datetime, ...]:
        return tuple(sorted(e.at for e in events if isinstance(e, kind)))[:1]

    return (started, *first(Routed), *first(CallAnswered), *first(CallEnded))


def _rows(sessions: sessionmaker[Session], uid: str) -> int:
    with sessions() as s:
        return int(s.scalar(select(func.count()).select_from(Call).where(Call.uid == uid)) or 0)


@settings(
    max_examples=60,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(delivery=deliveries())
def test_any_events_in_any_batches_leave_one_row_with_its_times_in_order(
    session_factory: sessionmaker[Session],
    delivery: tuple[bool, list[CallEvent], list[list[CallEvent]]],
) -> None:
    """One database for all the examples (a new uid each): after every batch the row is
    one, in order; when the clocks agree nothing was moved, and replaying everything
    changes nothing."""
    agree, events, batches = delivery
    uid = events[0].uid
    log = SqlCallLog(session_factory)
    for batch in batches:
        log.record_many(batch)
        rec = log.get_call(uid)
        assert rec is not None
        assert_in_order(rec)
    assert _rows(session_factory, uid) == 1
    if agree:
        assert rec is not None
        got = (rec.started_at, rec.routed_at, rec.answered_at, rec.ended_at)
        assert tuple(t for t in got if t is not None) == expected_times(events)
        for batch in batches:
            log.record_many(batch)
        assert log.get_call(uid) == rec


# --------------------------------------------------------------------------- targeted


def test_an_answer_before_the_start_is_recorded_at_the_routing(call_log: SqlCallLog) -> None:
    """Twilio's Dial action: the answer is DialCallDuration s before now, and a signed
    duration longer than the call puts it a day before the call began."""
    call_log.record(CallStarted("dcd", at(0), "1", source=SOURCE_TWILIO))
    call_log.record(Routed("dcd", at(5), "repairs", "queue", "repairs-q"))
    call_log.record(CallAnswered("dcd", at(15 - DAY), "queue-repairs"))
    call_log.record(CallEnded("dcd", at(20), "completed"))
    rec = call_log.get_call("dcd")
    assert rec is not None
    assert (rec.started_at, rec.routed_at, rec.answered_at, rec.ended_at) == (
        at(0),
        at(5),
        at(5),
        at(20),
    )
    assert (rec.wait_seconds, rec.talk_seconds, rec.outcome) == (0.0, 15.0, Outcome.ANSWERED)


def test_an_answer_without_a_routing_is_not_before_the_start(call_log: SqlCallLog) -> None:
    call_log.record(CallStarted("dcd0", at(0), "1", source=SOURCE_TWILIO))
    call_log.record(CallAnswered("dcd0", at(-30), "seat1"))
    rec = call_log.get_call("dcd0")
    assert rec is not None and rec.answered_at == at(0)


@pytest.mark.parametrize("answered", [True, False])
def test_a_status_timestamp_a_day_behind_ends_the_call_at_its_last_known_time(
    call_log: SqlCallLog, answered: bool
) -> None:
    """Twilio's status callback: a weak start (Timestamp less CallDuration) and an end at
    a Timestamp a day behind our clock, after the voice webhook's start on ours."""
    uid = f"ts-{answered}"
    call_log.record(CallStarted(uid, at(0), "1", source=SOURCE_TWILIO))
    call_log.record(Routed(uid, at(5), "repairs", "queue", "repairs-q"))
    if answered:
        call_log.record(CallAnswered(uid, at(15), "queue-repairs"))
    call_log.record(CallStarted(uid, at(30 - DAY - 30), "1", source=SOURCE_TWILIO_STATUS))
    call_log.record(CallEnded(uid, at(30 - DAY), "completed"))
    rec = call_log.get_call(uid)
    assert rec is not None
    assert_in_order(rec)
    assert (rec.source, rec.started_at, rec.routed_at) == (SOURCE_TWILIO, at(0), at(5))
    assert rec.ended_at == (at(15) if answered else at(5))
    assert rec.started_at.date() == at(0).date()  # the call stays on its day


def test_a_routing_after_the_end_is_recorded_at_the_end(call_log: SqlCallLog) -> None:
    call_log.record_many(
        [
            CallStarted("r", at(0), "1"),
            CallEnded("r", at(10), "16"),
            Routed("r", at(12), "repairs", "queue", "repairs-q"),
        ]
    )
    rec = call_log.get_call("r")
    assert rec is not None
    assert (rec.routed_at, rec.ended_at, rec.wait_seconds) == (at(10), at(10), 0.0)
    assert rec.decision is not None and rec.decision.at == at(12)  # the decision as made


def test_the_time_that_landed_first_stands_and_the_later_gives_way(
    call_log: SqlCallLog,
) -> None:
    """An end at :30 on one clock and a start at :45 on another: whichever landed first
    is kept, the other is moved onto it (never a stored time rewritten)."""
    call_log.record(CallEnded("end-first", at(30), "completed"))
    call_log.record(CallStarted("end-first", at(45), "1", source=SOURCE_TWILIO))
    call_log.record(CallStarted("start-first", at(45), "1", source=SOURCE_TWILIO))
    call_log.record(CallEnded("start-first", at(30), "completed"))
    a, b = call_log.get_call("end-first"), call_log.get_call("start-first")
    assert a is not None and b is not None
    assert (a.started_at, a.ended_at) == (at(30), at(30))
    assert (b.started_at, b.ended_at) == (at(45), at(45))
