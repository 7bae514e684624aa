"""SqlCallLog applies call-log events idempotently and in any order (SQLite and PostgreSQL)."""

from __future__ import annotations

import contextlib
import itertools
import random
from collections.abc import Iterator
from dataclasses import replace
from datetime import UTC, datetime, timedelta, timezone

import pytest
from sqlalchemy import Engine
from sqlalchemy import event as sa_event

from ivr.adapters.db.calllog import CallRecord, DecisionRecord, SqlCallLog, StepRecord
from ivr.adapters.db.models import NaiveDatetimeError
from ivr.domain.calllog import (
    SOURCE_AMI,
    CallAnswered,
    CallEnded,
    CallEvent,
    CallStarted,
    MenuStep,
    Outcome,
    Routed,
)

T0 = datetime(2025, 3, 14, 9, 30, tzinfo=UTC)
BEIJING = timezone(timedelta(hours=8))


def at(seconds: float) -> datetime:
    return T0 + timedelta(seconds=seconds)


def answered_call(uid: str = "1710408600.42", caller: str = "13800000001") -> list[CallEvent]:
    """A caller presses 2 (repairs), waits 20 s in the queue, talks 95 s."""
    return [
        CallStarted(uid, at(0), caller, "Zhang San", "12345", "PJSIP/trunk-0001", "fastagi"),
        MenuStep(uid, 1, at(1), "main", "prompt"),
        MenuStep(uid, 2, at(6), "main", "key", key="2"),
        Routed(
            uid,
            at(7),
            "repairs",
            "queue",
            "repairs-q",
            priority=5,
            vip=True,
            language="zh",
            trace=("hours: open", "branch: repairs", "queue: repairs-q"),
        ),
        CallAnswered(uid, at(27), "seat-03", "agent-7"),
        CallEnded(uid, at(122), hangup_cause="16"),
    ]


def expected_answered(uid: str = "1710408600.42") -> CallRecord:
    return CallRecord(
        uid=uid,
        caller="13800000001",
        caller_name="Zhang San",
        dialed="12345",
        channel="PJSIP/trunk-0001",
        source="fastagi",
        language="zh",
        started_at=at(0),
        routed_at=at(7),
        answered_at=at(27),
        ended_at=at(122),
        branch="repairs",
        route_kind="queue",
        route_target="repairs-q",
        priority=5,
        vip=True,
        answered_seat="seat-03",
        answered_agent="agent-7",
        outcome=Outcome.ANSWERED,
        hangup_cause="16",
        wait_seconds=20.0,
        talk_seconds=95.0,
        steps=(
            StepRecord(1, at(1), "main", "prompt", "", ""),
            StepRecord(2, at(6), "main", "key", "2", ""),
        ),
        decision=DecisionRecord(
            at(7),
            "repairs",
            "queue",
            "repairs-q",
            5,
            True,
            "zh",
            ("hours: open", "branch: repairs", "queue: repairs-q"),
        ),
    )


def test_a_full_call_gives_one_consistent_record(call_log: SqlCallLog) -> None:
    for event in answered_call():
        call_log.record(event)
    assert call_log.get_call("1710408600.42") == expected_answered()


def test_every_event_applied_twice_gives_the_same_record(call_log: SqlCallLog) -> None:
    events = answered_call()
    call_log.record_many(events)
    call_log.record_many(events)
    for event in events:
        call_log.record(event)
    assert call_log.get_call("1710408600.42") == expected_answered()


def test_events_in_any_order_give_the_same_record(call_log: SqlCallLog) -> None:
    events = answered_call("template")
    core = [e for e in events if not isinstance(e, MenuStep)]
    steps = [e for e in events if isinstance(e, MenuStep)]
    for n, order in enumerate(itertools.permutations(core)):
        uid = f"perm-{n}"
        for event in (*order, *steps):
            call_log.record(_with_uid(event, uid))
        assert call_log.get_call(uid) == expected_answered(uid), order


def test_call_ended_before_call_started_leaves_a_placeholder_then_fills_it(
    call_log: SqlCallLog,
) -> None:
    uid = "late"
    call_log.record(CallEnded(uid, at(40), hangup_cause="16"))
    placeholder = call_log.get_call(uid)
    assert placeholder is not None
    assert placeholder.source is None
    assert placeholder.started_at == at(40)
    assert placeholder.outcome is Outcome.ABANDONED_IN_MENU

    call_log.record(CallStarted(uid, at(0), "13900000002", source="agi"))
    call_log.record(Routed(uid, at(10), "complaints", "voicemail", "vm-complaints"))
    record = call_log.get_call(uid)
    assert record is not None
    assert (record.source, record.caller, record.started_at) == ("agi", "13900000002", at(0))
    assert record.outcome is Outcome.VOICEMAIL
    assert record.wait_seconds == 30.0
    assert record.talk_seconds is None


def test_a_start_that_lands_after_the_end_is_not_recorded_after_it(
    call_log: SqlCallLog,
) -> None:
    """Two clocks (Twilio's status Timestamp, our webhook's time): the end came first,
    with an earlier time than the start that follows. The record never ends before it
    starts, nor answers before it."""
    uid = "skewed"
    call_log.record(CallEnded(uid, at(30), hangup_cause="completed"))
    call_log.record(CallAnswered(uid, at(20), "seat1"))
    call_log.record(CallStarted(uid, at(45), "13900000003", source="twilio"))
    record = call_log.get_call(uid)
    assert record is not None
    assert (record.source, record.started_at, record.ended_at) == ("twilio", at(20), at(30))
    assert record.talk_seconds == 10.0 and record.wait_seconds is None


def test_hang_up_in_the_menu_is_abandoned_in_menu(call_log: SqlCallLog) -> None:
    call_log.record_many(
        [
            CallStarted("menu", at(0), "13700000003"),
            MenuStep("menu", 1, at(1), "main", "prompt"),
            MenuStep("menu", 2, at(9), "main", "timeout"),
            CallEnded("menu", at(12), hangup_cause="16"),
        ]
    )
    record = call_log.get_call("menu")
    assert record is not None
    assert record.outcome is Outcome.ABANDONED_IN_MENU
    assert (record.wait_seconds, record.talk_seconds, record.decision) == (None, None, None)
    assert [s.event for s in record.steps] == ["prompt", "timeout"]


def test_unanswered_queue_call_waits_until_hang_up(call_log: SqlCallLog) -> None:
    call_log.record_many(
        [
            CallStarted("q", at(0), "1"),
            Routed("q", at(5), "sales", "queue", "sales-q"),
            CallEnded("q", at(65)),
        ]
    )
    record = call_log.get_call("q")
    assert record is not None
    assert record.outcome is Outcome.ABANDONED_WAITING
    assert record.wait_seconds == 60.0


def test_call_in_progress_until_it_ends(call_log: SqlCallLog) -> None:
    call_log.record_many([CallStarted("p", at(0), "1"), Routed("p", at(5), "sales", "seat", "s1")])
    record = call_log.get_call("p")
    assert record is not None
    assert record.outcome is Outcome.IN_PROGRESS
    assert record.wait_seconds is None


def test_stated_outcome_wins_over_the_derived_one(call_log: SqlCallLog) -> None:
    call_log.record_many(
        [
            CallStarted("cb", at(0), "1"),
            Routed("cb", at(5), "sales", "queue", "sales-q"),
            CallEnded("cb", at(30), outcome=Outcome.CALLBACK_REQUESTED),
            CallEnded("cb", at(31), hangup_cause="16"),  # the AMI listener's later view
        ]
    )
    record = call_log.get_call("cb")
    assert record is not None
    assert (record.outcome, record.ended_at, record.hangup_cause) == (
        Outcome.CALLBACK_REQUESTED,
        at(30),
        "16",
    )


def test_latest_routing_decision_wins_and_waiting_starts_at_the_first(
    call_log: SqlCallLog,
) -> None:
    first = Routed("rr", at(5), "sales", "queue", "sales-q", trace=("queue",))
    second = Routed("rr", at(65), "sales", "voicemail", "vm-sales", trace=("timeout", "vm"))
    for order in ([first, second], [second, first]):
        uid = f"rr-{order[0].kind}"
        events: list[CallEvent] = [CallStarted(uid, at(0), "1"), *order, CallEnded(uid, at(90))]
        for event in events:
            call_log.record(_with_uid(event, uid))
        record = call_log.get_call(uid)
        assert record is not None
        assert record.decision is not None
        assert (record.route_kind, record.decision.trace) == ("voicemail", ("timeout", "vm"))
        assert (record.routed_at, record.wait_seconds) == (at(5), 85.0)
        assert record.outcome is Outcome.VOICEMAIL


def test_first_answer_wins(call_log: SqlCallLog) -> None:
    call_log.record(CallAnswered("a", at(30), "seat-2", "agent-2"))
    call_log.record(CallAnswered("a", at(20), "seat-1", "agent-1"))
    call_log.record(CallAnswered("a", at(25), "seat-3", "agent-3"))
    record = call_log.get_call("a")
    assert record is not None
    assert (record.answered_at, record.answered_seat, record.answered_agent) == (
        at(20),
        "seat-1",
        "agent-1",
    )


def test_times_come_back_as_aware_utc(call_log: SqlCallLog) -> None:
    local = datetime(2025, 3, 14, 17, 30, tzinfo=BEIJING)  # == T0
    call_log.record(CallStarted("tz", local, "1"))
    record = call_log.get_call("tz")
    assert record is not None
    assert record.started_at == T0
    assert record.started_at.tzinfo is UTC


def test_naive_datetimes_are_refused_and_a_batch_is_all_or_nothing(call_log: SqlCallLog) -> None:
    with pytest.raises(NaiveDatetimeError, match="naive"):
        call_log.record_many(
            [CallStarted("n", at(0), "1"), CallEnded("n", datetime(2025, 3, 14, 10, 0))]
        )
    assert call_log.get_call("n") is None


def test_previous_agent_is_the_latest_answer_since(call_log: SqlCallLog) -> None:
    caller = "13800000009"
    for uid, start, agent in [("p1", 0, "agent-old"), ("p2", 3600, "agent-new")]:
        call_log.record_many(
            [
                CallStarted(uid, at(start), caller),
                CallAnswered(uid, at(start + 10), "seat", agent),
                CallEnded(uid, at(start + 100)),
            ]
        )
    call_log.record_many(
        [CallStarted("other", at(7200), "1"), CallAnswered("other", at(7201), "s", "x")]
    )
    call_log.record_many(
        [CallStarted("unanswered", at(7300), caller), CallEnded("unanswered", at(7310))]
    )

    assert call_log.previous_agent(caller, since=at(-10)) == "agent-new"
    assert call_log.previous_agent(caller, since=at(3610)) == "agent-new"
    assert call_log.previous_agent(caller, since=at(3611)) is None
    assert call_log.previous_agent("nobody", since=at(-10)) is None


def test_no_number_has_no_previous_agent(call_log: SqlCallLog) -> None:
    """Callers without a number are stored as '' or as Asterisk named them: not one caller."""
    for uid, caller in [("w1", ""), ("w2", "anonymous")]:
        call_log.record_many(
            [CallStarted(uid, at(0), caller), CallAnswered(uid, at(10), "seat", "agent-" + uid)]
        )
    for caller in ["", "anonymous", "Restricted", "+"]:
        assert call_log.previous_agent(caller, since=at(-10)) is None, caller


@pytest.mark.parametrize("alphabet", ["0123456789abcdefXYZ", "张王李赵😀0123"])
def test_a_caller_id_of_kilobytes_gets_its_record(call_log: SqlCallLog, alphabet: str) -> None:
    """SIP lets a caller send a caller ID of kilobytes; PostgreSQL cannot index one over
    some 2,700 bytes. It is stored cut, and the call has its whole record."""
    rng = random.Random(7)
    caller = "".join(rng.choice(alphabet) for _ in range(7000))
    call_log.record_many(
        [CallStarted("long", at(0), caller, source="ami"), CallEnded("long", at(5))]
    )
    record = call_log.get_call("long")
    assert record is not None and record.source == "ami" and record.ended_at == at(5)
    assert record.caller == caller[:128]
    call_log.record_many([CallAnswered("long", at(2), "seat", "agent-l")])
    assert call_log.previous_agent(caller, since=at(-10)) == "agent-l"


def test_unknown_call_is_none(call_log: SqlCallLog) -> None:
    assert call_log.get_call("nope") is None


def _with_uid(event: CallEvent, uid: str) -> CallEvent:
    return replace(event, uid=uid)


def test_latest_from_a_caller_after_a_watermark(call_log: SqlCallLog) -> None:
    t = datetime(2026, 11, 23, 2, 0, tzinfo=UTC)
    assert call_log.last_id() == 0
    assert call_log.latest_from("13800000077") is None
    call_log.record(CallStarted("a-1", t, "13800000077"))
    call_log.record(CallStarted("b-1", t, "13800000088"))
    mark = call_log.last_id()
    assert mark > 0
    first = call_log.latest_from("13800000077")
    assert first is not None and first.uid == "a-1"
    assert call_log.latest_from("13800000077", after_id=mark) is None  # nothing newer yet
    call_log.record(CallStarted("a-2", t + timedelta(minutes=1), "13800000077"))
    newer = call_log.latest_from("13800000077", after_id=mark)
    assert newer is not None and newer.uid == "a-2"


def ami_hangup(uid: str, ended: float) -> list[CallEvent]:
    """What the AMI listener makes of a caller channel's Hangup (ami.translate)."""
    return [
        CallStarted(uid, at(-0.4), "13800000001", "Zhang San", "", "PJSIP/anon-1", SOURCE_AMI),
        CallEnded(uid, at(ended), "16 Normal Clearing"),
    ]


def test_a_hangup_alone_is_a_whole_record_abandoned_in_the_menu(call_log: SqlCallLog) -> None:
    for event in ami_hangup("early", 0.3):
        call_log.record(event)
    rec = call_log.get_call("early")
    assert rec is not None
    assert (rec.source, rec.caller, rec.outcome) == (
        "ami",
        "13800000001",
        Outcome.ABANDONED_IN_MENU,
    )
    assert (rec.started_at, rec.ended_at) == (at(-0.4), at(0.3))


@pytest.mark.parametrize("order", ["ivr first", "ami first", "one batch, ami first"])
def test_the_ivr_start_wins_over_the_ami_start_in_any_order(
    call_log: SqlCallLog, order: str
) -> None:
    uid = "1710408600.77"
    ivr = [
        CallStarted(uid, at(0), "13800000001", "Zhang San", "12345", "PJSIP/anon-1", "fastagi"),
        MenuStep(uid, 1, at(0.1), "main", "prompt"),
        CallEnded(uid, at(0.7), "caller hung up in menu", Outcome.ABANDONED_IN_MENU),
    ]
    ami = ami_hangup(uid, 0.8)
    if order == "one batch, ami first":
        call_log.record_many([*ami, *ivr])
    else:
        for event in ivr + ami if order == "ivr first" else ami + ivr:
            call_log.record(event)
    rec = call_log.get_call(uid)
    assert rec is not None
    assert (rec.source, rec.started_at, rec.dialed) == ("fastagi", at(0), "12345")
    assert (rec.ended_at, rec.outcome) == (at(0.7), Outcome.ABANDONED_IN_MENU)
    assert len(rec.steps) == 1


def test_a_second_ami_start_changes_nothing(call_log: SqlCallLog) -> None:
    uid = "1710408600.78"
    call_log.record_many(ami_hangup(uid, 0.3))
    call_log.record(CallStarted(uid, at(-5), "other", "", "", "", SOURCE_AMI))
    rec = call_log.get_call(uid)
    assert rec is not None and (rec.caller, rec.started_at) == ("13800000001", at(-0.4))


def test_callers_are_stored_in_e164_and_found_by_any_form(session_factory) -> None:
    log = SqlCallLog(session_factory, "CN")  # as ivr.bootstrap builds it for site.region CN
    t = datetime(2026, 11, 23, 2, 0, tzinfo=UTC)
    log.record_many(
        [
            CallStarted("n-1", t, "13800000103"),
            CallAnswered("n-1", t + timedelta(seconds=9), "seat2", "chen"),
            CallEnded("n-1", t + timedelta(seconds=60)),
        ]
    )
    log.record(CallStarted("x-1", t, "4000"))  # an extension: kept as Asterisk gave it
    log.record(CallStarted("o-1", t, "138; odd"))
    rec = log.get_call("n-1")
    assert rec is not None and rec.caller == "+8613800000103"
    for form in ("13800000103", "+86 138 0000 0103", "008613800000103", "１３８００００01０３"):
        found = log.latest_from(form)
        assert found is not None and found.uid == "n-1", form
        assert log.previous_agent(form, since=t) == "chen", form
    assert log.caller_key("13800000103") == "+8613800000103"
    found = log.latest_from("4000")
    assert found is not None and found.caller == "4000"
    odd = log.get_call("o-1")
    assert odd is not None and odd.caller == "138; odd"
    assert log.latest_from("+8613800000104") is None


# --------------------------------------------------------------------------- what a batch writes


@contextlib.contextmanager
def _statements(engine: Engine) -> Iterator[list[str]]:
    """The SQL text of every statement the engine runs meanwhile."""
    seen: list[str] = []

    def before(_conn: object, _cursor: object, statement: str, *_rest: object) -> None:
        seen.append(" ".join(statement.split()))

    sa_event.listen(engine, "before_cursor_execute", before)
    try:
        yield seen
    finally:
        sa_event.remove(engine, "before_cursor_execute", before)


def _call_updates(statements: list[str]) -> list[str]:
    return [s for s in statements if s.startswith("UPDATE calls ")]


def _set_columns(update_sql: str) -> set[str]:
    assignments = update_sql.split(" SET ", 1)[1].split(" WHERE ", 1)[0]
    return {a.split("=")[0].strip() for a in assignments.split(",")}


def test_a_batch_updates_only_the_call_columns_its_events_changed(
    call_log: SqlCallLog, engine: Engine
) -> None:
    uid = "lean-1"
    call_log.record_many(answered_call(uid)[:2])  # started, first step
    with _statements(engine) as seen:
        call_log.record(CallEnded(uid, at(40), hangup_cause="16"))
    (update,) = _call_updates(seen)
    # the end, the cause and what they change (outcome, wait); nothing the call had already
    assert _set_columns(update) == {"ended_at", "hangup_cause", "outcome"}
    record = call_log.get_call(uid)
    assert record is not None
    assert (record.caller, record.caller_name, record.source) == (
        "13800000001",
        "Zhang San",
        "fastagi",
    )
    assert (record.ended_at, record.hangup_cause, record.outcome) == (
        at(40),
        "16",
        Outcome.ABANDONED_IN_MENU,
    )


def test_an_event_that_changes_nothing_writes_no_call_row(
    call_log: SqlCallLog, engine: Engine
) -> None:
    events = answered_call("lean-2")
    call_log.record_many(events)
    with _statements(engine) as seen:
        call_log.record_many(events)  # a spool replay: every event again
        call_log.record(CallEnded("lean-2", at(500), hangup_cause="17"))  # a later end loses
    assert _call_updates(seen) == []
    assert call_log.get_call("lean-2") == expected_answered("lean-2")


def test_calls_changed_in_different_ways_in_one_batch_each_get_their_columns(
    call_log: SqlCallLog, engine: Engine
) -> None:
    first, second = answered_call("lean-3"), answered_call("lean-4")
    call_log.record_many(first[:2] + second[:4])  # lean-4 is already routed
    with _statements(engine) as seen:
        call_log.record_many([first[3], second[5]])  # lean-3 routed, lean-4 ended
    shapes = sorted(sorted(_set_columns(u)) for u in _call_updates(seen))
    assert shapes == [
        ["branch", "language", "priority", "route_kind", "route_target", "routed_at", "vip"],
        ["ended_at", "hangup_cause", "outcome", "wait_seconds"],
    ]
    lean3, lean4 = call_log.get_call("lean-3"), call_log.get_call("lean-4")
    assert lean3 is not None and lean4 is not None
    assert (lean3.branch, lean3.routed_at, lean3.ended_at) == ("repairs", at(7), None)
    assert (lean4.ended_at, lean4.wait_seconds, lean4.outcome) == (
        at(122),
        115.0,
        Outcome.ABANDONED_WAITING,
    )


def test_a_batch_reads_decisions_and_steps_only_for_the_calls_whose_events_need_them(
    call_log: SqlCallLog, engine: Engine
) -> None:
    call_log.record_many(answered_call("lean-5")[:4])  # started, two steps, routed
    with _statements(engine) as seen:
        call_log.record(CallEnded("lean-5", at(60), hangup_cause="16"))
    reads = [s for s in seen if s.startswith("SELECT")]
    assert len(reads) == 1 and " FROM calls " in reads[0] + " ", reads
    with _statements(engine) as seen:  # a replayed decision: its row is read, no step rows
        call_log.record(answered_call("lean-5")[3])
    reads = [s for s in seen if s.startswith("SELECT")]
    assert [r for r in reads if "routing_decisions" in r] and not [
        r for r in reads if "call_steps" in r
    ], reads
    record = call_log.get_call("lean-5")
    assert record is not None and record.decision is not None
    assert (record.ended_at, record.decision.branch, len(record.steps)) == (at(60), "repairs", 2)


def test_open_on_channels_lists_the_unended_asterisk_calls_since_a_time(
    call_log: SqlCallLog,
) -> None:
    def started(uid: str, seconds: float, channel: str, source: str) -> CallStarted:
        return CallStarted(uid, at(seconds), "13800000001", "", "12345", channel, source)

    call_log.record_many(
        [
            started("open.1", 10, "PJSIP/trunk-0001", "fastagi"),
            started("open.2", 20, "PJSIP/trunk-0002", "agi"),
            started("ended.3", 30, "PJSIP/trunk-0003", "fastagi"),
            CallEnded("ended.3", at(40), "16"),
            started("old.4", -3600, "PJSIP/trunk-0004", "fastagi"),  # before `since`
            started("CA" + "0" * 32, 50, "", "twilio"),  # Twilio reports its own end
            started("CA" + "1" * 32, 50, "PJSIP/twilio-0005", "twilio_status"),
            # a placeholder (an event before the start): no channel known yet
            MenuStep("placeholder.6", 1, at(60), "main", "prompt"),
        ]
    )
    assert sorted(call_log.open_on_channels(at(0))) == ["open.1", "open.2"]
    assert call_log.open_on_channels(at(15)) == ["open.2"]
    assert sorted(call_log.open_on_channels(at(-7200))) == ["old.4", "open.1", "open.2"]
    call_log.record(CallEnded("open.1", at(70)))
    assert sorted(call_log.open_on_channels(at(-7200))) == ["old.4", "open.2"]
