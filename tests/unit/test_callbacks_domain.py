"""The callback ledger's rules, at fixed instants: states, retries, calling hours, rules."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from ivr.domain.calendar import parse_window
from ivr.domain.callbacks import (
    DUE_STATES,
    FINAL_STATES,
    OPEN_STATES,
    TRANSITIONS,
    AttemptOutcome,
    CallbackState,
    CallingRules,
    Plan,
    RateItem,
    RetryPolicy,
    RuleKind,
    ServiceRule,
    TransitionError,
    add_months,
    after_attempt,
    callback_rate,
    check_transition,
    dial_order,
    eligibility,
    may_dial_before_waiting,
    next_allowed,
    next_contract_date,
    outcome_of_dial_status,
    schedule_for,
    validate_machine,
)

SH = ZoneInfo("Asia/Shanghai")
NY = ZoneInfo("America/New_York")
S = CallbackState
WEEKDAY_HOURS = (parse_window("09:00-12:00"), parse_window("13:30-20:00"))


def rules(**kw: object) -> CallingRules:
    base: dict[str, object] = {
        "weekly": {d: WEEKDAY_HOURS for d in ("mon", "tue", "wed", "thu", "fri")}
        | {"sat": (parse_window("10:00-16:00"),)},
        "default_tz": SH,
        "tz_by_prefix": {"+1": NY, "+86": SH},
        "holidays": frozenset({date(2026, 10, 1)}),
        "do_not_call": frozenset({"+8613700000000"}),
    }
    base.update(kw)
    return CallingRules(**base)  # type: ignore[arg-type]


def sh(year: int, month: int, day: int, hour: int = 0, minute: int = 0) -> datetime:
    return datetime(year, month, day, hour, minute, tzinfo=SH)


# --- the state machine ---------------------------------------------------------------


def test_machine_shape() -> None:
    assert FINAL_STATES == {S.COMPLETED, S.FAILED, S.EXPIRED, S.CANCELLED}
    assert DUE_STATES <= OPEN_STATES
    assert not FINAL_STATES & OPEN_STATES
    for final in FINAL_STATES:
        with pytest.raises(TransitionError, match=f"from {final.value} to scheduled"):
            check_transition(final, S.SCHEDULED)


@pytest.mark.parametrize(
    ("current", "target", "ok"),
    [
        (S.REQUESTED, S.SCHEDULED, True),
        (S.SCHEDULED, S.DIALING, True),
        (S.RETRY, S.DIALING, True),
        (S.DIALING, S.CONNECTED, True),
        (S.CONNECTED, S.COMPLETED, True),
        (S.DIALING, S.RETRY, True),
        (S.REQUESTED, S.DIALING, False),  # never dialled unscheduled
        (S.CONNECTED, S.RETRY, False),  # a connected callback is never dialled again
        (S.CONNECTED, S.CANCELLED, False),
        (S.DIALING, S.DIALING, False),  # a claim is exclusive
    ],
)
def test_transitions(current: CallbackState, target: CallbackState, ok: bool) -> None:
    if ok:
        check_transition(current, target)
    else:
        with pytest.raises(TransitionError):
            check_transition(current, target)


def test_machine_validation_rejects_unreachable_and_missing_states() -> None:
    broken = dict(TRANSITIONS)
    broken[S.DIALING] = frozenset({S.RETRY})  # nothing leads to connected any more
    with pytest.raises(TransitionError, match="unreachable.*connected"):
        validate_machine(broken, S.REQUESTED)
    missing: dict[CallbackState, frozenset[CallbackState]] = {
        k: v for k, v in TRANSITIONS.items() if k is not S.EXPIRED
    }
    with pytest.raises(TransitionError, match="without a transition entry"):
        validate_machine(missing, S.REQUESTED)


def test_dial_status_mapping() -> None:
    assert outcome_of_dial_status("ANSWER") is AttemptOutcome.ANSWERED
    assert outcome_of_dial_status("busy") is AttemptOutcome.BUSY
    assert outcome_of_dial_status("NOANSWER") is AttemptOutcome.NO_ANSWER
    assert outcome_of_dial_status("CHANUNAVAIL") is AttemptOutcome.FAILED
    assert outcome_of_dial_status("") is AttemptOutcome.FAILED


# --- calling hours, holidays, do-not-call, time zones -----------------------------------


def test_inside_and_outside_calling_hours_in_the_hotline_zone() -> None:
    r = rules()
    assert eligibility("+8613800000002", sh(2026, 11, 23, 9, 0), SH, r).allowed  # Monday
    lunch = eligibility("+8613800000002", sh(2026, 11, 23, 12, 30), SH, r)
    assert not lunch.allowed and "outside calling hours" in lunch.reason
    assert not eligibility("+8613800000002", sh(2026, 11, 23, 20, 0), SH, r).allowed
    assert not eligibility("+8613800000002", sh(2026, 11, 22, 11, 0), SH, r).allowed  # Sunday


def test_do_not_call_is_never_dialled() -> None:
    r = rules()
    at = sh(2026, 11, 23, 10, 0)
    verdict = eligibility("+86 137 0000 0000", at, SH, r)
    assert not verdict.allowed and "do-not-call" in verdict.reason
    assert next_allowed("+8613700000000", at, SH, r) is None


def test_holiday_blocks_unless_configured() -> None:
    at = sh(2026, 10, 1, 10, 0)  # Thursday, National Day
    verdict = eligibility("+8613800000002", at, SH, rules())
    assert not verdict.allowed and "holiday" in verdict.reason
    assert eligibility("+8613800000002", at, SH, rules(dial_on_holidays=True)).allowed
    assert next_allowed("+8613800000002", at, SH, rules()) == sh(2026, 10, 2, 9, 0)


def test_customer_time_zone_differs_from_the_hotline() -> None:
    r = rules()
    number = "+12125550100"
    assert r.customer_tz(number) is NY
    at = sh(2026, 11, 23, 10, 0)  # 10:00 in Shanghai is 21:00 Sunday in New York
    assert eligibility("+8613800000002", at, SH, r).allowed
    verdict = eligibility(number, at, NY, r)
    assert not verdict.allowed and "America/New_York" in verdict.reason
    first = next_allowed(number, at, NY, r)
    assert first == datetime(2026, 11, 23, 9, 0, tzinfo=NY)
    assert first is not None and first.astimezone(SH) == sh(2026, 11, 23, 22, 0)


def test_window_across_midnight_belongs_to_the_day_it_starts() -> None:
    r = rules(weekly={"fri": (parse_window("22:00-02:00"),)})
    assert eligibility("+861", sh(2026, 11, 28, 1, 30), SH, r).allowed  # Sat 01:30
    assert not eligibility("+861", sh(2026, 11, 29, 1, 30), SH, r).allowed  # Sun 01:30
    # The night after a holiday starts on the holiday: not dialled.
    holiday = rules(weekly={"thu": (parse_window("22:00-02:00"),)})
    assert not eligibility("+861", sh(2026, 10, 2, 1, 0), SH, holiday).allowed


def test_daylight_saving_change_keeps_wall_clock_hours() -> None:
    r = rules(weekly={"sun": (parse_window("09:00-12:00"),)})
    # New York springs forward on 2026-03-08: 09:00 EDT is 13:00 UTC (not 14:00).
    first = next_allowed("+12125550100", datetime(2026, 3, 7, 20, 0, tzinfo=NY), NY, r)
    assert first == datetime(2026, 3, 8, 13, 0, tzinfo=UTC)
    week_before = next_allowed("+12125550100", datetime(2026, 2, 28, 20, 0, tzinfo=NY), NY, r)
    assert week_before == datetime(2026, 3, 1, 14, 0, tzinfo=UTC)


def test_longest_prefix_wins_for_the_time_zone() -> None:
    la = ZoneInfo("America/Los_Angeles")
    r = rules(tz_by_prefix={"+1": NY, "+1415": la})
    assert r.customer_tz("+14155550100") is la
    assert r.customer_tz("+12125550100") is NY
    assert r.customer_tz("13800000002") is SH


# --- retries ---------------------------------------------------------------------------


POLICY = RetryPolicy(
    max_attempts=3,
    backoff=(timedelta(minutes=10), timedelta(minutes=30)),
    busy_backoff=timedelta(minutes=5),
    agent_retry=timedelta(seconds=30),
)


def plan(outcome: AttemptOutcome, n: int, at: datetime, expires: datetime | None = None) -> Plan:
    return after_attempt(outcome, n, at, expires, "+8613800000002", SH, rules(), POLICY)


def test_answered_completes_and_declined_cancels() -> None:
    at = sh(2026, 11, 23, 10, 0)
    assert plan(AttemptOutcome.ANSWERED, 1, at).state is S.COMPLETED
    assert plan(AttemptOutcome.CANCELLED, 1, at).state is S.CANCELLED


def test_back_off_grows_then_attempts_run_out() -> None:
    at = sh(2026, 11, 23, 10, 0)
    first = plan(AttemptOutcome.NO_ANSWER, 1, at)
    assert (first.state, first.due_at) == (S.RETRY, at + timedelta(minutes=10))
    second = plan(AttemptOutcome.NO_ANSWER, 2, at)
    assert second.due_at == at + timedelta(minutes=30)
    busy = plan(AttemptOutcome.BUSY, 2, at)
    assert busy.due_at == at + timedelta(minutes=5)
    last = plan(AttemptOutcome.NO_ANSWER, 3, at)
    assert (last.state, last.due_at) == (S.FAILED, None)


def test_agent_failure_does_not_use_up_an_attempt() -> None:
    at = sh(2026, 11, 23, 10, 0)
    p = plan(AttemptOutcome.AGENT_UNAVAILABLE, 3, at)  # even with all attempts used
    assert (p.state, p.due_at) == (S.SCHEDULED, at + timedelta(seconds=30))


def test_retry_moves_into_the_next_calling_window() -> None:
    p = plan(AttemptOutcome.NO_ANSWER, 1, sh(2026, 11, 23, 19, 55))
    assert (p.state, p.due_at) == (S.RETRY, sh(2026, 11, 24, 9, 0))
    lunch = plan(AttemptOutcome.NO_ANSWER, 1, sh(2026, 11, 23, 11, 55))
    assert lunch.due_at == sh(2026, 11, 23, 13, 30)


def test_retry_past_expiry_expires() -> None:
    at = sh(2026, 11, 23, 19, 55)
    p = plan(AttemptOutcome.BUSY, 1, at, expires=sh(2026, 11, 23, 23, 0))
    assert (p.state, p.due_at) == (S.EXPIRED, None)


# --- service rules -----------------------------------------------------------------------


def test_visitor_is_called_the_day_after() -> None:
    rule = ServiceRule("visitor", RuleKind.NEXT_DAY)
    s = schedule_for(rule, sh(2026, 11, 23, 15, 0), "+8613800000002", SH, rules())
    assert s is not None
    assert (s.due_at, s.deadline) == (sh(2026, 11, 24, 9, 0), sh(2026, 11, 25, 0, 0))
    friday = schedule_for(rule, sh(2026, 11, 27, 15, 0), "+8613800000002", SH, rules())
    assert friday is not None and friday.due_at == sh(2026, 11, 28, 10, 0)  # Saturday hours


def test_complainant_within_three_days() -> None:
    rule = ServiceRule("complaint", RuleKind.WITHIN_DAYS, days=3)
    s = schedule_for(rule, sh(2026, 11, 23, 21, 0), "+8613800000002", SH, rules())
    assert s is not None
    assert (s.due_at, s.deadline) == (sh(2026, 11, 24, 9, 0), sh(2026, 11, 26, 21, 0))
    assert schedule_for(rule, sh(2026, 11, 23, 21, 0), "+8613700000000", SH, rules()) is None


def test_agreed_reply_time_is_kept() -> None:
    rule = ServiceRule("reply", RuleKind.AGREED)
    agreed = sh(2026, 11, 24, 15, 30)
    s = schedule_for(rule, sh(2026, 11, 23, 10, 0), "+861", SH, rules(), agreed_at=agreed)
    assert s is not None and (s.due_at, s.deadline) == (agreed, agreed + timedelta(hours=1))
    with pytest.raises(ValueError, match="agreed time"):
        schedule_for(rule, sh(2026, 11, 23, 10, 0), "+861", SH, rules())


def test_contract_customers_monthly_then_quarterly() -> None:
    start = date(2026, 1, 31)
    assert add_months(start, 1) == date(2026, 2, 28)
    assert add_months(date(2026, 11, 30), 3) == date(2027, 2, 28)
    assert next_contract_date(start, date(2026, 1, 31)) == date(2026, 2, 28)
    assert next_contract_date(start, date(2026, 12, 1)) == date(2026, 12, 31)
    assert next_contract_date(start, date(2027, 1, 1)) == date(2027, 1, 31)  # month 12
    assert next_contract_date(start, date(2027, 1, 31)) == date(2027, 4, 30)  # quarterly
    assert next_contract_date(start, date(2027, 5, 1)) == date(2027, 7, 31)
    rule = ServiceRule("contract", RuleKind.CONTRACT, days=7)
    s = schedule_for(
        rule, sh(2027, 1, 31, 12, 0), "+861", SH, rules(), contract_start=date(2026, 1, 31)
    )
    assert s is not None and s.due_at == sh(2027, 4, 30, 9, 0)  # a Friday


# --- ordering and the callback rate ---------------------------------------------------------


def test_callback_never_overtakes_earlier_waiting_callers() -> None:
    arrived = sh(2026, 11, 23, 10, 0)
    assert may_dial_before_waiting(arrived, [])
    assert may_dial_before_waiting(arrived, [arrived + timedelta(seconds=1)])
    assert not may_dial_before_waiting(arrived, [arrived + timedelta(minutes=5), arrived])
    assert not may_dial_before_waiting(arrived, [arrived - timedelta(seconds=1)])


def test_dial_order_is_due_then_arrival() -> None:
    t = sh(2026, 11, 24, 9, 0)
    overnight = [(3, t - timedelta(hours=9)), (1, t - timedelta(hours=14)), (2, t)]
    ordered = sorted(overnight, key=lambda r: dial_order(t, r[1], r[0]))
    assert [i for i, _ in ordered] == [1, 3, 2]
    retry_later = dial_order(t + timedelta(minutes=10), t - timedelta(days=1), 0)
    assert dial_order(t, t, 9) < retry_later


def test_callback_rate_against_deadlines() -> None:
    at = sh(2026, 11, 30, 12, 0)
    d = sh(2026, 11, 26, 12, 0)
    items = [
        RateItem(S.COMPLETED, d, d - timedelta(hours=1)),  # on time
        RateItem(S.COMPLETED, d, d + timedelta(hours=1)),  # late
        RateItem(S.FAILED, d, None),  # missed
        RateItem(S.RETRY, d, None),  # open and past its deadline: missed so far
        RateItem(S.SCHEDULED, at + timedelta(days=1), None),  # still in time
        RateItem(S.CANCELLED, d, None),  # not counted
    ]
    r = callback_rate(items, at)
    assert (r.counted, r.on_time, r.late_or_missed, r.pending) == (4, 1, 3, 1)
    assert r.rate == 0.25
    assert callback_rate([], at).rate is None
