"""The satisfaction survey through the real parts: a SIPp caller, the sandbox
Asterisk, SIPp seats that answer and then hang up themselves, the FastAGI service
and the database (SQLite and PostgreSQL). The caller stays on the line after the
seat hangs up and keys a score (or does not).
"""

from __future__ import annotations

import itertools
import json
import time
from collections.abc import Iterator

import pytest
from e2e_stack import SUNDAY_03, WEEKDAY_10, Stack

from cli.main import main
from ivr.adapters.db.survey import SqlSurveys
from ivr.domain.calllog import Outcome
from ivr.domain.survey import SurveyOutcome, SurveyResult
from lab.sipp import SeatPool, place_call
from web import report_data

pytestmark = pytest.mark.e2e

SEAT_TALK_MS = 2500  # the seats hang up this long after answering
# The survey keys follow the menu key by: queue ring (300 ms) + talk + a margin for
# the survey's AGI to start (the key interrupts the question's prompt).
SURVEY_DELAY_MS = 300 + SEAT_TALK_MS + 1500
_numbers = itertools.count(1)


def caller(stack: Stack) -> str:
    return f"1371{0 if stack.backend == 'sqlite' else 1}{next(_numbers):06d}"


@pytest.fixture
def hanging_seats(stack: Stack) -> Iterator[Stack]:
    """The stack's seats swapped for seats that hang up after SEAT_TALK_MS."""
    original = stack.seats
    original.stop()
    seats = SeatPool(original.settings, ring_ms=300, hold_ms=SEAT_TALK_MS)
    seats.start()
    stack.seats = seats
    try:
        yield stack
    finally:
        seats.stop()
        stack.seats = original
        original.start()


def survey_of(stack: Stack, uid: str, timeout: float = 20.0) -> SurveyResult:
    repo = SqlSurveys(stack.runtime.sessions)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = repo.get(uid)
        if found is not None:
            return found
        time.sleep(0.2)
    raise AssertionError(f"no survey stored for call {uid} after {timeout}s")


def test_the_caller_keys_a_score_after_the_seat_hangs_up(hanging_seats: Stack) -> None:
    stack = hanging_seats
    stack.at(WEEKDAY_10)
    number = caller(stack)
    result = place_call(
        "1", number, survey="4", survey_delay_ms=SURVEY_DELAY_MS, hold_ms=20000, timeout_s=60
    )
    assert result.ok, result
    assert result.hung_up_by == "asterisk"  # the thanks, then Asterisk ends the call
    rec = stack.call_record(number)
    assert rec.outcome is Outcome.ANSWERED and rec.answered_agent
    survey = survey_of(stack, rec.uid)
    assert survey.outcome is SurveyOutcome.SCORED and survey.score == 4
    assert survey.agent_id == rec.answered_agent and survey.seat == rec.answered_seat
    assert survey.branch == "enquiries" and survey.case_uid is None
    assert survey.language == rec.language
    # The call's own record: exactly one, and its talk time ends when the seat hung up.
    assert stack.calls_from(number) == 1
    assert rec.talk_seconds is not None and rec.talk_seconds < SEAT_TALK_MS / 1000 + 1.5
    assert rec.ended_at is not None and rec.ended_at <= survey.started_at
    # ... and it is in the report, by agent, branch and period.
    rt = stack.runtime
    with rt.sessions() as s:
        sat = report_data.satisfaction(rt, s, rng_of(stack))
    mine = [a for a in sat["agents"] if a["agent"] == rec.answered_agent]
    assert mine and mine[0]["scored"] >= 1 and mine[0]["satisfied"] >= 1
    assert any(b["branch"] == "enquiries" and b["scored"] >= 1 for b in sat["branches"])
    assert sum(p["scored"] for p in sat["periods"]) >= 1


def rng_of(stack: Stack) -> report_data.ReportRange:
    today = stack.clock().astimezone(stack.runtime.config.site.tz).date()
    return report_data.report_range("day", None, None, today)


def test_a_dialled_seat_repeat_caller_gets_the_survey_too(hanging_seats: Stack) -> None:
    """The repeat caller's seat is dialled directly (Dial with `g`, not Queue)."""
    stack = hanging_seats
    stack.at(WEEKDAY_10)
    number = caller(stack)
    plan = {"survey_delay_ms": SURVEY_DELAY_MS, "hold_ms": 20000, "timeout_s": 60}
    assert place_call("1", number, survey="5", **plan).ok
    first = stack.call_record(number)
    assert survey_of(stack, first.uid).score == 5
    assert place_call("2", number, survey="3", **plan).ok
    second = stack.call_record(number)
    assert second.uid != first.uid and second.route_kind == "seat"
    survey = survey_of(stack, second.uid)
    assert survey.outcome is SurveyOutcome.SCORED and survey.score == 3
    assert survey.seat == first.answered_seat == second.answered_seat
    assert survey.agent_id == first.answered_agent
    assert stack.calls_from(number) == 2


def test_a_caller_who_hangs_up_during_the_survey_is_recorded_as_left(
    hanging_seats: Stack,
) -> None:
    stack = hanging_seats
    stack.at(WEEKDAY_10)
    number = caller(stack)
    # Hang up while the question plays: after the seat's BYE, before any survey key.
    result = place_call("1", number, hangup_after_ms=1000 + SURVEY_DELAY_MS + 500, timeout_s=40)
    assert result.hung_up_by == "caller", result
    rec = stack.call_record(number)
    assert rec.outcome is Outcome.ANSWERED
    survey = survey_of(stack, rec.uid)
    assert survey.outcome is SurveyOutcome.LEFT and survey.score is None
    assert stack.calls_from(number) == 1


def test_an_invalid_key_then_silence_ends_without_a_score(hanging_seats: Stack) -> None:
    stack = hanging_seats
    stack.at(WEEKDAY_10)
    number = caller(stack)
    policy = stack.runtime.config.survey
    assert policy.attempts == 2 and policy.score_of("7") is None
    result = place_call(
        "1", number, survey="7", survey_delay_ms=SURVEY_DELAY_MS, hold_ms=60000, timeout_s=90
    )
    assert result.ok, result
    assert result.hung_up_by == "asterisk"  # asked again, nothing keyed: goodbye
    rec = stack.call_record(number)
    survey = survey_of(stack, rec.uid)
    assert survey.outcome is SurveyOutcome.NO_ANSWER
    assert survey.keys == "7" and survey.score is None


def test_a_branch_with_the_survey_off_has_no_survey(hanging_seats: Stack) -> None:
    stack = hanging_seats
    stack.at(SUNDAY_03)  # key 0: the emergency on-call; sample survey.branches.emergency: false
    number = caller(stack)
    result = place_call(
        "0", number, survey="5", survey_delay_ms=SURVEY_DELAY_MS, hold_ms=20000, timeout_s=60
    )
    assert result.hung_up_by == "asterisk", result  # right after the seat hung up
    assert result.duration_s is not None and result.duration_s < 8.0  # hold: 20 s
    rec = stack.call_record(number)
    assert rec.route_kind == "emergency" and rec.outcome is Outcome.ANSWERED
    time.sleep(1.0)
    assert SqlSurveys(stack.runtime.sessions).get(rec.uid) is None
    assert stack.calls_from(number) == 1


@pytest.fixture
def no_seats(stack: Stack) -> Iterator[Stack]:
    """The stack's seats stopped: `hotline call` brings its own on the same ports."""
    stack.seats.stop()
    try:
        yield stack
    finally:
        stack.seats.start()


def test_hotline_call_with_survey_prints_the_score_stored(
    no_seats: Stack, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    stack = no_seats
    stack.at(WEEKDAY_10)
    rt = stack.runtime
    monkeypatch.setenv("HOTLINE_DATABASE_URL", rt.engine.url.render_as_string(False))
    monkeypatch.setenv("HOTLINE_DATA_DIR", str(rt.config.data_dir))
    number = caller(stack)
    argv = ["call", "--keys", "1", "--survey", "5", "--from", number, "--ring-ms", "300"]
    assert main([*argv, "--config", str(rt.config.directory), "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["outcome"] == "answered"
    assert out["survey"]["outcome"] == "scored" and out["survey"]["score"] == 5
    stored = SqlSurveys(rt.sessions).get(out["call_id"])
    assert stored is not None and stored.score == 5
    assert out["survey"]["agent"] == stored.agent_id == out["answered_by"]["agent"]
