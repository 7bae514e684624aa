"""Who is on duty and on call at fixed instants; staffing gaps."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from ivr.config import HotlineConfig
from ivr.domain.calendar import Calendar, parse_window
from ivr.domain.shifts import (
    Agent,
    DaySpec,
    OnCallShift,
    Role,
    Roster,
    Shift,
    StaffingRule,
    staffing_gaps,
)

SHANGHAI = ZoneInfo("Asia/Shanghai")
BERLIN = ZoneInfo("Europe/Berlin")


def sh(y: int, mo: int, d: int, h: int = 0, mi: int = 0) -> datetime:
    return datetime(y, mo, d, h, mi, tzinfo=SHANGHAI)


def shift(days: str | list[str], window: str) -> Shift:
    spec = DaySpec(weekdays=frozenset(days)) if isinstance(days, list) else DaySpec(named=days)
    return Shift(spec, parse_window(window))


def agent(aid: str, *shifts: Shift, role: Role = Role.ORDINARY, skills: str = "") -> Agent:
    return Agent(aid, aid.title(), role, f"seat-{aid}", frozenset(skills.split()), shifts)


def ids(agents: tuple[Agent, ...]) -> list[str]:
    return [a.id for a in agents]


@pytest.fixture
def roster(sample_config: HotlineConfig) -> Roster:
    return sample_config.roster


@pytest.fixture
def rule(sample_config: HotlineConfig) -> StaffingRule:
    return sample_config.staffing


# --- the sample roster at fixed instants -----------------------------------------------


def test_sunday_night_only_the_on_call_rota(roster: Roster) -> None:
    at = sh(2026, 11, 22, 3)  # Sunday 03:00
    assert ids(roster.on_call(at)) == ["zhao", "li"]
    assert roster.on_duty(at) == ()
    assert ids(roster.staffed(at)) == ["zhao", "li"]


def test_monday_morning_seat_duty(roster: Roster) -> None:
    at = sh(2026, 11, 23, 10)
    on = ids(roster.on_duty(at))
    assert on == ["lead", "chen", "li", "zhang", "liu"]
    assert "zhao" not in on  # afternoon only
    assert ids(roster.on_call(at)) == ["liu", "zhang"]
    # staffed = seat duty + rota, each agent once
    assert sorted(ids(roster.staffed(at))) == sorted(on)


def test_monday_afternoon_adds_zhao(roster: Roster) -> None:
    assert ids(roster.on_duty(sh(2026, 11, 23, 14))) == [
        "lead",
        "chen",
        "li",
        "zhang",
        "liu",
        "zhao",
    ]


def test_lead_briefing_and_wrap_up_outside_the_ordinary_seats(roster: Roster) -> None:
    assert ids(roster.on_duty(sh(2026, 11, 23, 9, 15))) == ["lead"]
    assert ids(roster.on_duty(sh(2026, 11, 23, 17, 15))) == ["lead"]
    assert roster.on_duty(sh(2026, 11, 23, 17, 30)) == ()
    assert roster.on_duty(sh(2026, 11, 23, 12, 0)) == ()  # lunch


def test_national_day_nobody_on_seat_duty(roster: Roster) -> None:
    at = sh(2026, 10, 2, 10)
    assert roster.on_duty(at) == ()
    assert ids(roster.on_call(at)) == ["liu", "zhang"]  # the rota runs 365 days


def test_makeup_saturday_runs_the_workday_shifts(roster: Roster) -> None:
    at = sh(2026, 10, 10, 10)
    assert ids(roster.on_duty(at)) == ["lead", "chen", "li", "zhang", "liu"]
    # An ordinary Saturday a week later: nobody.
    assert roster.on_duty(sh(2026, 10, 17, 10)) == ()


@pytest.mark.parametrize(
    ("at", "expected"),
    [
        (sh(2026, 11, 23, 7, 59), ["zhao", "li"]),  # Sunday's night shift, Monday morning
        (sh(2026, 11, 23, 8, 0), ["liu", "zhang"]),
        (sh(2026, 11, 23, 19, 59), ["liu", "zhang"]),
        (sh(2026, 11, 23, 20, 0), ["zhao", "li"]),
        (sh(2026, 11, 24, 0, 0), ["zhao", "li"]),  # across midnight
        (sh(2026, 11, 24, 7, 59), ["zhao", "li"]),
    ],
)
def test_on_call_rota_crosses_midnight(roster: Roster, at: datetime, expected: list[str]) -> None:
    assert ids(roster.on_call(at)) == expected


def test_exactly_two_on_call_at_every_half_hour_of_two_weeks(roster: Roster) -> None:
    start = sh(2026, 9, 28)  # National Day and the make-up Saturday included
    for i in range(14 * 48):
        at = start + timedelta(minutes=30 * i)
        assert len(roster.on_call(at)) == 2, at


def test_agent_lookups(roster: Roster) -> None:
    chen = roster.agent("chen")
    assert chen is not None and chen.seat == "seat2"
    zhao = roster.agent_by_seat("seat6")
    assert zhao is not None and zhao.id == "zhao"
    assert roster.agent("nobody") is None
    assert roster.agent_by_seat("seat99") is None
    lead = roster.agent("lead")
    assert lead is not None and lead.role is Role.LEAD


# --- shifts belong to the day they start on ---------------------------------------------


@pytest.fixture
def night_roster(sample_config: HotlineConfig) -> Roster:
    """One agent on workday nights 22:00-06:00 with the sample (holiday) calendar."""
    return Roster(sample_config.calendar, (agent("owl", shift("workdays", "22:00-06:00")),))


@pytest.mark.parametrize(
    ("at", "on"),
    [
        (sh(2026, 9, 30, 22), True),  # Wednesday, a workday
        (sh(2026, 10, 1, 2), True),  # holiday morning: the shift started on a workday
        (sh(2026, 10, 1, 22), False),  # holiday evening: no shift starts
        (sh(2026, 10, 2, 2), False),  # started (would have) on a holiday
        (sh(2026, 10, 8, 2), False),  # after the last holiday night
        (sh(2026, 10, 8, 22), True),
        (sh(2026, 10, 10, 2), True),  # Friday night into the make-up Saturday
        (sh(2026, 10, 10, 22), True),  # the make-up Saturday is a workday
        (sh(2026, 10, 11, 5, 59), True),  # ... its night runs into Sunday
        (sh(2026, 10, 11, 6, 0), False),
        (sh(2026, 10, 11, 22), False),  # Sunday night: no shift
        (sh(2026, 10, 12, 2), False),
    ],
)
def test_night_shift_belongs_to_the_day_it_started(
    night_roster: Roster, at: datetime, on: bool
) -> None:
    assert bool(night_roster.on_duty(at)) is on


def test_shift_across_spring_forward_in_berlin() -> None:
    # 2026-03-29 02:00 CET -> 03:00 CEST; the wall-clock shift 01:00-05:00 still holds.
    cal = Calendar(BERLIN, {})
    r = Roster(cal, (agent("anna", shift(["sun"], "01:00-05:00")),))
    assert ids(r.on_duty(datetime(2026, 3, 29, 1, 30, tzinfo=UTC))) == ["anna"]  # 03:30 CEST
    assert r.on_duty(datetime(2026, 3, 29, 3, 30, tzinfo=UTC)) == ()  # 05:30 CEST


def test_on_call_shift_across_fall_back_in_berlin() -> None:
    cal = Calendar(BERLIN, {})
    r = Roster(
        cal,
        (agent("anna"),),
        (OnCallShift("anna", shift(["sun"], "02:00-04:00")),),
    )
    # 02:30 happens twice on 2026-10-25; both are inside the window.
    assert ids(r.on_call(datetime(2026, 10, 25, 0, 30, tzinfo=UTC))) == ["anna"]
    assert ids(r.on_call(datetime(2026, 10, 25, 1, 30, tzinfo=UTC))) == ["anna"]
    assert r.on_call(datetime(2026, 10, 25, 3, 0, tzinfo=UTC)) == ()  # 04:00 CET


def test_on_call_lists_each_agent_once_and_skips_unknown_ids(
    sample_config: HotlineConfig,
) -> None:
    r = Roster(
        sample_config.calendar,
        (agent("a"), agent("b")),
        (
            OnCallShift("b", shift("all", "00:00-12:00")),
            OnCallShift("ghost", shift("all", "00:00-12:00")),
            OnCallShift("a", shift("all", "06:00-12:00")),
            OnCallShift("b", shift("all", "06:00-08:00")),
        ),
    )
    assert ids(r.on_call(sh(2026, 11, 23, 7))) == ["b", "a"]


@pytest.mark.parametrize(
    ("named", "day", "matches"),
    [
        ("all", date(2026, 10, 1), True),
        ("workdays", date(2026, 10, 1), False),  # holiday
        ("workdays", date(2026, 10, 10), True),  # make-up Saturday
        ("workdays", date(2026, 11, 22), False),  # Sunday
        ("closed_days", date(2026, 10, 1), True),
        ("closed_days", date(2026, 11, 22), True),
        ("closed_days", date(2026, 10, 10), False),
        ("closed_days", date(2026, 11, 23), False),
        ("holidays", date(2026, 10, 1), True),
        ("holidays", date(2026, 11, 22), False),
        ("weekends", date(2026, 11, 22), True),
        ("weekends", date(2026, 11, 23), False),
    ],
)
def test_named_day_sets(sample_config: HotlineConfig, named: str, day: date, matches: bool) -> None:
    assert DaySpec(named=named).matches(day, sample_config.calendar) is matches


# --- staffing gaps ------------------------------------------------------------------


@pytest.mark.parametrize("monday", [sh(2026, 11, 23), sh(2026, 9, 28), sh(2026, 10, 5)])
def test_sample_roster_has_no_staffing_gaps(
    roster: Roster, rule: StaffingRule, monday: datetime
) -> None:
    assert staffing_gaps(roster, rule, monday, 24 * 7) == []


def test_short_roster_open_hours_gap(roster: Roster, rule: StaffingRule) -> None:
    short = replace(roster, agents=tuple(a for a in roster.agents if a.id != "chen"))
    gaps = staffing_gaps(short, rule, sh(2026, 11, 23), 24 * 7)
    # Mornings 09:30-11:30 lack one ordinary seat (the lead does not count);
    # afternoons have zhao. Four half-hours on each of five weekdays.
    assert len(gaps) == 20
    assert all(g.open and g.staffed == 3 and g.required == 4 for g in gaps)
    first = gaps[0]
    assert first.at == sh(2026, 11, 23, 9, 30)
    assert {g.at.astimezone(SHANGHAI).hour for g in gaps} == {9, 10, 11}
    assert sh(2026, 11, 23, 13) not in {g.at for g in gaps}


def test_short_on_call_rota_closed_hours_gap(roster: Roster, rule: StaffingRule) -> None:
    short = replace(roster, oncall=tuple(o for o in roster.oncall if o.agent_id != "li"))
    gaps = staffing_gaps(short, rule, sh(2026, 11, 22), 24)  # a Sunday
    at_three = next(g for g in gaps if g.at == sh(2026, 11, 22, 3))
    assert (at_three.open, at_three.staffed, at_three.required) == (False, 1, 2)
    assert sh(2026, 11, 22, 12) not in {g.at for g in gaps}  # the day rota has two


def test_staffing_gaps_steps_through_the_period(roster: Roster) -> None:
    impossible = StaffingRule(min_on_duty_open=99, min_on_duty_closed=99, max_away=2)
    gaps = staffing_gaps(roster, impossible, sh(2026, 11, 23), 2, step_minutes=15)
    assert [g.at for g in gaps] == [sh(2026, 11, 23) + timedelta(minutes=15 * i) for i in range(8)]
