"""Real SIP calls (SIPp) through the sandbox Asterisk, the FastAGI service and
the call log, on SQLite and on PostgreSQL. Each test uses its own caller number
so its call record can be found.
"""

from __future__ import annotations

import itertools
import time

import pytest
from e2e_stack import SUNDAY_03, SUNDAY_10, WEEKDAY_10, Stack

from ivr.adapters.db.callbacks import CallbackRepo
from ivr.domain.calllog import Outcome
from lab.sipp import place_call

pytestmark = pytest.mark.e2e

_numbers = itertools.count(1)
ENQUIRY_SEATS = {"seat1", "seat2", "seat3", "seat5"}  # lead, chen, li, liu
NIGHT_ONCALL_SEATS = {"seat6", "seat3"}  # zhao, li


def caller(stack: Stack) -> str:
    return f"1390{0 if stack.backend == 'sqlite' else 1}{next(_numbers):06d}"


def test_weekday_key1_is_answered_by_an_on_duty_enquiry_seat(stack: Stack) -> None:
    stack.at(WEEKDAY_10)
    number = caller(stack)
    result = place_call("1", number, hold_ms=1500, timeout_s=30)
    assert result.ok, result
    rec = stack.call_record(number)
    assert rec.route_kind == "queue" and rec.branch == "enquiries"
    assert rec.outcome is Outcome.ANSWERED
    assert rec.answered_seat in ENQUIRY_SEATS
    assert stack.seats.seat_of(number) == rec.answered_seat
    assert rec.answered_agent == stack.runtime.config.roster.agent_by_seat(rec.answered_seat).id
    assert rec.talk_seconds is not None and rec.talk_seconds > 0.5
    assert [s.event for s in rec.steps][:2] == ["start", "key"]
    assert rec.decision is not None and any("free" in t for t in rec.decision.trace)


def test_closed_hours_offer_a_callback(stack: Stack) -> None:
    stack.at(SUNDAY_10)
    number = caller(stack)
    result = place_call("1", number, hold_ms=40000, timeout_s=60)
    assert result.ok, result
    assert result.hung_up_by == "asterisk"  # offer, confirmation, the due time, goodbye
    rec = stack.call_record(number)
    e164 = "+86" + number  # the caller ID, national in the sample's site.region CN
    assert rec.caller == e164
    assert rec.route_kind == "callback" and rec.route_target == e164
    assert rec.outcome is Outcome.CALLBACK_REQUESTED
    assert stack.seats.seat_of(number) is None
    assert any("closed" in t for t in rec.decision.trace)
    # The request is in the callback ledger, keeping the caller's language and arrival.
    requests = [r for r in CallbackRepo(stack.runtime.sessions).listing() if r.number == e164]
    assert len(requests) == 1
    assert requests[0].language == rec.language
    assert requests[0].source_uid == rec.uid
    assert abs((requests[0].arrived_at - rec.started_at).total_seconds()) < 2


def test_a_callback_number_that_is_no_number_goes_to_voicemail_and_the_record_says_so(
    stack: Stack,
) -> None:
    # 9 (a callback), then "12#" at the confirmation prompt (after the 3 s offer, which
    # no key interrupts): no phone number, so voicemail, and the record must not claim
    # a callback was requested that the ledger never got
    stack.at(SUNDAY_10)
    number = caller(stack)
    place_call("912#", number, key_gap_ms=4000, hangup_after_ms=20000, timeout_s=45)
    rec = stack.call_record(number)
    assert rec.route_kind == "voicemail" and rec.outcome is Outcome.VOICEMAIL
    assert rec.decision is not None and rec.decision.trace[0].startswith("callback not taken")
    assert not [
        r for r in CallbackRepo(stack.runtime.sessions).listing() if r.source_uid == rec.uid
    ]


def test_sunday_night_key0_reaches_the_emergency_on_call(stack: Stack) -> None:
    stack.at(SUNDAY_03)
    number = caller(stack)
    result = place_call("0", number, hold_ms=1500, timeout_s=30)
    assert result.ok, result
    rec = stack.call_record(number)
    assert rec.route_kind == "emergency"
    assert rec.outcome is Outcome.ANSWERED
    assert rec.answered_seat in NIGHT_ONCALL_SEATS
    assert rec.priority >= 10


def test_hangup_mid_menu_is_abandoned_in_menu(stack: Stack) -> None:
    stack.at(WEEKDAY_10)
    number = caller(stack)
    result = place_call("", number, hangup_after_ms=1500, timeout_s=20)
    assert result.hung_up_by == "caller"
    rec = stack.call_record(number)
    assert rec.outcome is Outcome.ABANDONED_IN_MENU
    assert rec.route_kind is None and rec.answered_at is None
    assert stack.seats.seat_of(number) is None


def test_invalid_keys_three_times_go_to_a_person_when_open(stack: Stack) -> None:
    stack.at(WEEKDAY_10)
    number = caller(stack)
    result = place_call("777", number, key_gap_ms=1200, hold_ms=1500, timeout_s=40)
    assert result.ok, result
    rec = stack.call_record(number)
    assert [s.event for s in rec.steps].count("invalid") == 3
    assert rec.route_kind == "queue" and rec.route_target == "operator"
    assert rec.outcome is Outcome.ANSWERED


def test_invalid_keys_three_times_go_to_voicemail_when_closed(stack: Stack) -> None:
    stack.at(SUNDAY_10)
    number = caller(stack)
    result = place_call("777", number, key_gap_ms=1200, hangup_after_ms=12000, timeout_s=40)
    assert result.exit_code is not None
    rec = stack.call_record(number)
    assert [s.event for s in rec.steps].count("invalid") == 3
    assert rec.route_kind == "voicemail"
    assert rec.outcome is Outcome.VOICEMAIL


def test_a_hash_key_is_a_wrong_key_not_a_silence(stack: Stack) -> None:
    # Asterisk's GET DATA ends on '#' with nothing read; the menu takes it for the
    # key it is: the wrong-key apology, and the call log says '#'
    stack.at(WEEKDAY_10)
    number = caller(stack)
    result = place_call("#1", number, key_gap_ms=1200, hold_ms=1500, timeout_s=40)
    assert result.ok, result
    rec = stack.call_record(number)
    assert [(s.event, s.key) for s in rec.steps] == [("start", ""), ("invalid", "#"), ("key", "1")]
    assert rec.route_kind == "queue" and rec.route_target == "enquiries"


def test_fastagi_down_fallback_still_serves_and_logs(stack: Stack) -> None:
    stack.at(WEEKDAY_10)
    number = caller(stack)
    stack.service.stop_fastagi()
    try:
        result = place_call("1", number, hold_ms=1500, timeout_s=40)
    finally:
        stack.service.start_fastagi()
    assert result.ok, result
    rec = stack.call_record(number)
    assert rec.source == "fallback"
    assert rec.route_target == "operator"
    assert rec.outcome is Outcome.ANSWERED  # the operator queue rang an on-duty seat
    assert rec.answered_seat is not None
    assert stack.calls_from(number) == 1


def test_repeat_caller_goes_back_to_the_agent_who_answered(stack: Stack) -> None:
    stack.at(WEEKDAY_10)
    number = caller(stack)
    assert place_call("1", number, hold_ms=1000, timeout_s=30).ok
    first = stack.call_record(number)
    assert first.answered_agent
    assert place_call("2", number, hold_ms=1000, timeout_s=30).ok
    second = stack.call_record(number)
    assert second.uid != first.uid
    assert second.route_kind == "seat"
    assert second.route_target == f"PJSIP/{first.answered_seat}"
    assert second.answered_seat == first.answered_seat


def test_a_database_outage_loses_no_call_record(stack: Stack) -> None:
    stack.at(WEEKDAY_10)
    number = caller(stack)
    spool = stack.runtime.spool_path
    with stack.database_outage():
        result = place_call("1", number, hold_ms=1500, timeout_s=40)
        assert result.ok, result  # the caller was served while the database was down
        deadline = time.monotonic() + 30
        while not (spool.exists() and number in spool.read_text()) and time.monotonic() < deadline:
            time.sleep(0.2)
        assert number in spool.read_text()  # the events waited on disk
    # The next write replays the spool in order; then the record is whole.
    assert place_call("1", caller(stack), hold_ms=500, timeout_s=40).ok
    rec = stack.call_record(number, timeout=40)
    assert rec.outcome is Outcome.ANSWERED
    assert rec.route_kind == "queue" and rec.answered_seat in ENQUIRY_SEATS
    assert [s.event for s in rec.steps][:2] == ["start", "key"]
    assert stack.calls_from(number) == 1


def test_a_silent_caller_is_with_a_person_within_40_seconds(stack: Stack) -> None:
    # The sample's welcome, a silence, the apology and the short list, a second
    # silence: then the operator queue, where a seat answers.
    stack.at(WEEKDAY_10)
    number = caller(stack)
    result = place_call("", number, hangup_after_ms=44000, timeout_s=70)
    assert result.final_status == 200, result
    rec = stack.call_record(number, timeout=30)
    assert rec.route_kind == "queue" and rec.route_target == "operator"
    assert rec.routed_at is not None and rec.answered_at is not None
    assert (rec.answered_at - rec.started_at).total_seconds() <= 40, rec
    assert [s.event for s in rec.steps] == ["start", "timeout", "timeout"]
