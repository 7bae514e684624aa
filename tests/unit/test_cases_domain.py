"""Cases: numbering, deadlines in working time, escalation, the state machine, contract series."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from ivr.domain.calendar import Calendar, Holiday, MakeupDay, parse_window
from ivr.domain.cases import (
    CASE_TRANSITIONS,
    CaseNumberError,
    CaseState,
    CaseTransitionError,
    Escalation,
    Term,
    TimeBasis,
    Urgency,
    add_working_time,
    case_month,
    check_case_transition,
    contract_series,
    deadline_for,
    escalation_at,
    escalation_steps,
    format_case_no,
    parse_case_no,
    urgency,
    validate_case_machine,
)

SH = ZoneInfo("Asia/Shanghai")
WEEKDAY = tuple(parse_window(w) for w in ("09:30-11:30", "13:00-17:00"))
# National Day 2026: Oct 1-7 off; Saturday Oct 10 is worked as a Friday.
CAL = Calendar(
    SH,
    {d: WEEKDAY for d in ("mon", "tue", "wed", "thu", "fri")},
    {date(2026, 10, d): Holiday(date(2026, 10, d), "National Day") for d in range(1, 8)},
    {date(2026, 10, 10): MakeupDay(date(2026, 10, 10), "fri", "make-up")},
)


def sh(y: int, mo: int, d: int, h: int = 0, mi: int = 0) -> datetime:
    return datetime(y, mo, d, h, mi, tzinfo=SH)


# --- numbering ---------------------------------------------------------------------


def test_month_rolls_over_in_the_hotline_zone_not_utc() -> None:
    # 2026-11-30 23:30 in Shanghai is 15:30 UTC on the 30th; 00:30 on Dec 1 is still Nov 30 UTC.
    assert case_month(sh(2026, 11, 30, 23, 59), CAL) == "202611"
    assert case_month(sh(2026, 12, 1, 0, 0), CAL) == "202612"
    assert case_month(datetime(2026, 11, 30, 16, 0, tzinfo=UTC), CAL) == "202612"
    assert case_month(datetime(2026, 12, 31, 15, 59, tzinfo=UTC), CAL) == "202612"
    assert case_month(datetime(2026, 12, 31, 16, 0, tzinfo=UTC), CAL) == "202701"


def test_case_numbers_format_and_parse() -> None:
    assert format_case_no("202612", 1) == "202612-0001"
    assert format_case_no("202612", 12345) == "202612-12345"
    assert parse_case_no("202612-0042") == ("202612", 42)
    for bad in ("", "202613-0001", "2026-0001", "202612-01", "202612-0001; DROP", "x" * 5000):
        with pytest.raises(CaseNumberError):
            parse_case_no(bad)
    with pytest.raises(CaseNumberError):
        format_case_no("2026", 1)
    with pytest.raises(CaseNumberError):
        format_case_no("202612", 0)


# --- deadlines -----------------------------------------------------------------------


def test_calendar_hours_run_through_nights_and_holidays() -> None:
    t = Term("departed", hours=72)
    assert deadline_for(t, sh(2026, 9, 30, 10), CAL) == sh(2026, 10, 3, 10)


def test_working_days_skip_the_holiday_and_count_the_makeup_day() -> None:
    # Opened Wed Sep 30: Oct 1-7 are holidays, Thu 8 and Fri 9 count, Sat 10 (make-up) is the 3rd.
    t = Term("appeal", working_days=3)
    assert deadline_for(t, sh(2026, 9, 30, 10), CAL) == sh(2026, 10, 11, 0)
    # An ordinary week: opened Monday, due at the end of Thursday.
    assert deadline_for(t, sh(2026, 11, 23, 16), CAL) == sh(2026, 11, 27, 0)


def test_working_hours_only_count_open_windows_across_a_holiday() -> None:
    t = Term("engineering", hours=1, basis=TimeBasis.WORKING)
    # 30 minutes left on Sep 30, then nothing until Thu Oct 8 09:30.
    assert deadline_for(t, sh(2026, 9, 30, 16, 30), CAL) == sh(2026, 10, 8, 10, 0)
    # Friday Oct 9 16:45: 15 minutes, then the make-up Saturday opens at 09:30.
    assert deadline_for(t, sh(2026, 10, 9, 16, 45), CAL) == sh(2026, 10, 10, 10, 15)
    # Lunch break is not working time.
    assert deadline_for(t, sh(2026, 11, 23, 11, 0), CAL) == sh(2026, 11, 23, 13, 30)
    # From the middle of the night: the next morning.
    assert add_working_time(sh(2026, 11, 24, 2), timedelta(minutes=10), CAL) == sh(
        2026, 11, 24, 9, 40
    )


def test_a_term_needs_exactly_one_measure() -> None:
    with pytest.raises(ValueError, match="one of them"):
        Term("x")
    with pytest.raises(ValueError, match="one of them"):
        Term("x", hours=1, working_days=1)


# --- escalation ----------------------------------------------------------------------


def test_escalation_ladder_lead_at_share_then_manager_when_overdue() -> None:
    opened, deadline = sh(2026, 11, 23, 10), sh(2026, 11, 26, 10)  # 72 h
    assert escalation_at(opened, deadline, sh(2026, 11, 24, 21, 59), 0.5) is Escalation.NONE
    assert escalation_at(opened, deadline, sh(2026, 11, 24, 22), 0.5) is Escalation.LEAD
    assert escalation_at(opened, deadline, sh(2026, 11, 26, 9, 59), 0.5) is Escalation.LEAD
    assert escalation_at(opened, deadline, deadline, 0.5) is Escalation.MANAGER
    assert escalation_steps(Escalation.NONE, Escalation.MANAGER) == [
        Escalation.LEAD,
        Escalation.MANAGER,
    ]
    assert escalation_steps(Escalation.LEAD, Escalation.LEAD) == []
    assert escalation_steps(Escalation.MANAGER, Escalation.LEAD) == []


def test_urgency_for_the_board() -> None:
    deadline, near = sh(2026, 11, 26, 10), timedelta(hours=24)
    assert urgency(CaseState.OPEN, deadline, sh(2026, 11, 25, 9), near) is Urgency.ON_TRACK
    assert urgency(CaseState.OPEN, deadline, sh(2026, 11, 25, 10), near) is Urgency.NEAR
    assert urgency(CaseState.REOPENED, deadline, deadline, near) is Urgency.OVERDUE
    assert urgency(CaseState.RESOLVED, deadline, deadline, near) is Urgency.DONE


# --- the state machine ----------------------------------------------------------------


def test_state_machine_allows_the_handbook_path_and_refuses_shortcuts() -> None:
    path = [
        CaseState.OPEN,
        CaseState.IN_PROGRESS,
        CaseState.WAITING_CUSTOMER,
        CaseState.IN_PROGRESS,
        CaseState.RESOLVED,
        CaseState.REOPENED,
        CaseState.RESOLVED,
        CaseState.CLOSED,
        CaseState.REOPENED,
    ]
    for a, b in zip(path, path[1:], strict=False):
        check_case_transition(a, b)
    for a, b in [
        (CaseState.OPEN, CaseState.REOPENED),
        (CaseState.CLOSED, CaseState.IN_PROGRESS),
        (CaseState.RESOLVED, CaseState.IN_PROGRESS),
        (CaseState.CLOSED, CaseState.CLOSED),
    ]:
        with pytest.raises(CaseTransitionError, match=f"from {a.value} to {b.value}"):
            check_case_transition(a, b)


def test_a_machine_with_a_dead_end_is_refused() -> None:
    broken = dict(CASE_TRANSITIONS)
    broken[CaseState.REOPENED] = frozenset({CaseState.IN_PROGRESS})
    broken[CaseState.IN_PROGRESS] = frozenset({CaseState.IN_PROGRESS})
    broken[CaseState.OPEN] = frozenset({CaseState.IN_PROGRESS, CaseState.RESOLVED})
    broken[CaseState.RESOLVED] = frozenset({CaseState.REOPENED, CaseState.CLOSED})
    broken[CaseState.WAITING_CUSTOMER] = frozenset({CaseState.CLOSED})
    with pytest.raises(CaseTransitionError):
        validate_case_machine(broken, CaseState.OPEN)
    missing = {k: v for k, v in CASE_TRANSITIONS.items() if k is not CaseState.REOPENED}
    with pytest.raises(CaseTransitionError, match="without a transition"):
        validate_case_machine(missing, CaseState.OPEN)


# --- contract customers ------------------------------------------------------------


def test_contract_series_is_monthly_in_the_first_year_then_quarterly() -> None:
    days = contract_series(date(2026, 1, 31), date(2026, 1, 31), 24)
    assert days[:3] == [date(2026, 2, 28), date(2026, 3, 31), date(2026, 4, 30)]
    assert len([d for d in days if d <= date(2027, 1, 31)]) == 12
    assert days[11:] == [
        date(2027, 1, 31),
        date(2027, 4, 30),
        date(2027, 7, 31),
        date(2027, 10, 31),
        date(2028, 1, 31),
    ]


def test_tally_counts_on_time_late_overdue_and_pending() -> None:
    from ivr.domain.cases import Case, CaseKind, Escalation, complaint_rate, tally_cases

    t = sh(2026, 11, 23, 10)

    def case(state: CaseState, done_after: float | None, due_after: float = 72) -> Case:
        done = t + timedelta(hours=done_after) if done_after is not None else None
        return Case(1, "202611-0001", CaseKind.COMPLAINT, "minor", state, "+86", "m", "", "",
                    "departed", t, t + timedelta(hours=due_after), Escalation.NONE, "", t,
                    done_at=done)  # fmt: skip

    cases = [
        case(CaseState.CLOSED, 10),
        case(CaseState.RESOLVED, 80),
        case(CaseState.OPEN, None, due_after=1),
        case(CaseState.IN_PROGRESS, None),
    ]
    tally = tally_cases(cases, t + timedelta(hours=2))
    assert (tally.opened, tally.done_on_time, tally.done_late) == (4, 1, 1)
    assert (tally.open_overdue, tally.open_pending) == (1, 1)
    assert tally.on_time_rate == pytest.approx(1 / 3)
    assert complaint_rate(3, 400) == 0.0075 and complaint_rate(1, 0) is None


# --- the IVR session routes a caller with an open case to its owner ------------------


def test_a_caller_with_an_open_case_goes_to_its_owner_and_the_trace_says_so(
    sample_config: object,
) -> None:
    from ivr.app.ivr_session import CallerInfo, IvrDeps, IvrSession
    from ivr.app.ports import NoHistory, NullCallLog, StaticPresence
    from ivr.config import HotlineConfig
    from ivr.domain.cases import Case, CaseKind, Escalation
    from ivr.domain.menu import Ask

    cfg = sample_config
    assert isinstance(cfg, HotlineConfig)
    at = sh(2026, 11, 23, 10)
    case = Case(1, "202611-0007", CaseKind.COMPLAINT, "minor", CaseState.IN_PROGRESS,
                "+8613800000009", "heater", "zhang", "complaints", "departed", at,
                at + timedelta(hours=72), Escalation.NONE, "", at)  # fmt: skip

    class Owners:
        def __init__(self, case: Case | None) -> None:
            self.case = case
            self.asked: list[str] = []

        def active_for(self, number: str) -> Case | None:
            self.asked.append(number)
            return self.case

    def route(owners: Owners, key: str = "1") -> tuple[str, str, tuple[str, ...]]:
        deps = IvrDeps(cfg.menu, cfg.roster, cfg.policy, "zh-CN", NullCallLog(), NoHistory(),
                       StaticPresence(), lambda: at, owners)  # fmt: skip
        session = IvrSession(deps, CallerInfo("u1", "+8613800000009"))
        action = session.begin()
        keys = iter(key)
        while isinstance(action, Ask):
            action = session.on_input(next(keys, None))
        d = session.decide()
        return d.route.kind.value, d.route.target, tuple(session.trace) + d.trace

    owners = Owners(case)
    kind, target, trace = route(owners)  # enquiries: zhang has no such skill, owns the case
    assert (kind, target) == ("seat", "PJSIP/seat4")
    assert "open case 202611-0007: owner zhang (first contact)" in trace
    assert owners.asked == ["+8613800000009"]
    kind, _, _ = route(Owners(None))
    assert kind == "queue"
