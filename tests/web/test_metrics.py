"""Report figures against values computed by hand on a fixed call set (docs/REPORTS.md)."""

from __future__ import annotations

from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from ivr.config import load_config
from ivr.domain.erlang import forecast_slots, plan_day
from ivr.domain.metrics import (
    CallFact,
    Clocking,
    ServiceTarget,
    Staffing,
    StaffingProblem,
    StateChange,
    attendance,
    away_refusal,
    away_seconds,
    by_period,
    figures,
    grouped,
    staffing_now,
    tally,
)
from ivr.domain.shifts import StaffingRule

TZ = ZoneInfo("Asia/Shanghai")
DAY1 = datetime(2026, 11, 23, 10, 0, tzinfo=TZ)  # Monday
DAY2 = datetime(2026, 11, 24, 10, 0, tzinfo=TZ)
TARGET = ServiceTarget(seconds=20, level=0.8)

# The fixed call set of docs/REPORTS.md (outcome, wait, talk, branch, agent).
FIXED = [
    ("answered", 10, 100, "enquiries", "chen"),
    ("answered", 30, 200, "enquiries", "chen"),
    ("answered", 5, 60, "repairs", "li"),
    ("abandoned_waiting", 15, None, "enquiries", None),  # abandoned within 20 s
    ("abandoned_waiting", 40, None, "complaints", None),
    ("abandoned_in_menu", None, None, None, None),
    ("callback_requested", 3, None, "repairs", None),
    ("answered", 20, 140, "complaints", "li"),  # exactly 20 s counts as within
]


def fixed_facts() -> list[CallFact]:
    out = [
        CallFact(DAY1 + timedelta(minutes=i), o, w, t, b, a)
        for i, (o, w, t, b, a) in enumerate(FIXED)
    ]
    out.append(CallFact(DAY2, "answered", 25, 50, "enquiries", "chen"))
    return out


def test_team_figures_by_hand() -> None:
    f = figures(tally(fixed_facts()[:8], TARGET))
    t = f.tally
    assert (t.offered, t.answered, t.abandoned_in_menu, t.abandoned_in_queue) == (8, 4, 1, 2)
    assert (t.answered_within_target, t.abandoned_in_queue_within_target) == (3, 1)
    assert t.callback == 1 and t.voicemail == 0
    assert f.service_level == pytest.approx(3 / 5)  # 3 / (4 + 2 - 1)
    assert f.asa_seconds == pytest.approx(65 / 4)  # (10 + 30 + 5 + 20) / 4 = 16.25
    assert f.aht_seconds == pytest.approx(500 / 4)  # (100 + 200 + 60 + 140) / 4 = 125
    assert f.abandon_rate == pytest.approx(2 / 6)


def test_per_day_agent_and_branch_by_hand() -> None:
    facts = fixed_facts()
    days = by_period(facts, TZ, "day", TARGET)
    assert list(days) == [date(2026, 11, 23), date(2026, 11, 24)]
    assert days[date(2026, 11, 24)].service_level == 0.0  # 0 of 1 within 20 s
    weeks = by_period(facts, TZ, "week", TARGET)
    assert list(weeks) == [date(2026, 11, 23)] and weeks[date(2026, 11, 23)].tally.offered == 9
    months = by_period(facts, TZ, "month", TARGET)
    assert list(months) == [date(2026, 11, 1)]
    agents = grouped(facts, lambda f: f.agent if f.outcome == "answered" else None, TARGET)
    assert agents["chen"].tally.answered == 3
    assert agents["chen"].asa_seconds == pytest.approx((10 + 30 + 25) / 3)
    assert agents["li"].aht_seconds == pytest.approx(100)  # (60 + 140) / 2
    branches = grouped(facts, lambda f: f.branch or "(menu)", TARGET)
    assert branches["enquiries"].service_level == pytest.approx(1 / 3)  # 1 / (3 + 1 - 1)
    assert branches["(menu)"].tally.abandoned_in_menu == 1


def test_no_queue_no_service_level() -> None:
    f = figures(tally([CallFact(DAY1, "abandoned_in_menu")], TARGET))
    assert f.service_level is None and f.asa_seconds is None and f.abandon_rate is None


@pytest.fixture(scope="module")
def cfg():
    return load_config("config", env={})


def test_attendance_late_absent_and_missing_sign_out(cfg) -> None:
    # chen: shift 09:30 on workdays; grace 5 min.
    d1, d2, d3 = date(2026, 11, 23), date(2026, 11, 24), date(2026, 11, 25)
    at = lambda d, h, m: datetime(d.year, d.month, d.day, h, m, tzinfo=TZ)  # noqa: E731
    clock = [
        Clocking("chen", "sign_in", at(d1, 9, 33)),  # within grace: on time
        Clocking("chen", "sign_out", at(d1, 17, 5)),
        Clocking("chen", "sign_in", at(d2, 9, 50)),  # 20 min late, never signed out
    ]
    now = at(d3, 12, 0)
    rows = {(r.agent_id, r.day): r for r in attendance(cfg.roster, clock, [d1, d2, d3], now)}
    assert rows[("chen", d1)].late_minutes == 0 and not rows[("chen", d1)].missing_sign_out
    assert rows[("chen", d2)].late_minutes == pytest.approx(20)
    assert rows[("chen", d2)].missing_sign_out
    assert rows[("chen", d3)].not_signed_in  # not signed in = late
    assert rows[("chen", d3)].late_minutes == pytest.approx(150)  # 09:30 -> 12:00
    assert not rows[("chen", d3)].missing_sign_out  # the day is not over


def test_a_night_shift_signed_out_in_the_morning_is_not_a_missing_sign_out(cfg) -> None:
    """zhao is on the night on-call rota (20:00-08:00, every day): every night's sign-in
    was counted as a missing sign-out (unpaid leave), its sign-out being on the next
    day. A sign-in of a day on which the agent has a window crossing midnight may be
    closed until the end of the next day; another sign-in first still proves it open."""
    at = lambda d, h, m: datetime(2026, 11, d, h, m, tzinfo=TZ)  # noqa: E731
    sat, sun, mon, tue = (date(2026, 11, d) for d in (21, 22, 23, 24))
    clock = [
        Clocking("zhao", "sign_in", at(21, 19, 58)),
        Clocking("zhao", "sign_out", at(22, 8, 2)),  # Saturday night, closed
        Clocking("zhao", "sign_in", at(22, 19, 55)),
        Clocking("zhao", "sign_out", at(23, 8, 0)),  # Sunday night, closed
        Clocking("zhao", "sign_in", at(23, 19, 59)),  # Monday night: never closed
        Clocking("zhao", "sign_in", at(24, 19, 50)),  # Tuesday night: still open
        Clocking("chen", "sign_in", at(23, 9, 30)),  # a day shift: closed past midnight
        Clocking("chen", "sign_out", at(24, 0, 30)),
    ]

    def missing(now: datetime) -> dict[tuple[str, date], bool]:
        rows = attendance(cfg.roster, clock, [sat, sun, mon, tue], now)
        return {(r.agent_id, r.day): r.missing_sign_out for r in rows if r.first_sign_in}

    assert missing(at(24, 12, 0)) == {
        ("zhao", sat): False,
        ("zhao", sun): False,
        ("zhao", mon): False,  # it may still be signed out today
        ("chen", mon): True,  # no night window: due by midnight
    }
    assert missing(at(24, 21, 0))[("zhao", mon)]  # Tuesday's sign-in came first
    assert not missing(at(24, 21, 0))[("zhao", tue)]
    assert missing(at(26, 0, 0))[("zhao", tue)]  # Wednesday is over


def test_away_seconds_by_reason() -> None:
    t = DAY1
    changes = [
        StateChange("li", "away", "meal", t - timedelta(minutes=10)),  # before the window
        StateChange("li", "available", "", t + timedelta(minutes=20)),
        StateChange("li", "away", "break", t + timedelta(minutes=30)),
        StateChange("li", "available", "", t + timedelta(minutes=45)),
        StateChange("chen", "away", "training", t + timedelta(minutes=50)),
    ]
    got = away_seconds(changes, t, t + timedelta(hours=1))
    assert got == {("li", "meal"): 1200, ("li", "break"): 900, ("chen", "training"): 600}


def test_staffing_now_and_away_refusal(cfg) -> None:
    # Monday 10:00: lead, chen, li, zhang, liu on shift (zhao from 13:00); min 4 ordinary.
    states = {
        "lead": "available",
        "chen": "available",
        "li": "available",
        "zhang": "available",
        "liu": "available",
    }
    now = staffing_now(cfg.roster, cfg.staffing, states, DAY1, "signed_out")
    assert now.open and now.present_ordinary == 4 and now.alarms == ()
    why = away_refusal(cfg.roster, cfg.staffing, states, "chen", DAY1, "signed_out")
    assert why == StaffingProblem(Staffing.WOULD_UNDERSTAFF, 3, 4)
    assert away_refusal(cfg.roster, cfg.staffing, states, "lead", DAY1, "signed_out") is None
    two_away = {**states, "zhao": "away", "lead": "away"}
    why = away_refusal(cfg.roster, StaffingRule(0, 0, 2), two_away, "chen", DAY1, "signed_out")
    assert why == StaffingProblem(Staffing.AWAY_LIMIT, 3, 2)
    short = {**states, "chen": "away", "li": "signed_out", "zhao": "away", "zhang": "away"}
    alarms = staffing_now(cfg.roster, cfg.staffing, short, DAY1, "signed_out").alarms
    assert alarms == (
        StaffingProblem(Staffing.BELOW_MINIMUM, 1, 4),
        StaffingProblem(Staffing.TOO_MANY_AWAY, 3, 2),
    )


def test_plan_day_marks_where_the_roster_is_short(cfg) -> None:
    history = [datetime(2026, 11, 16, 10, 5, tzinfo=TZ)] * 100  # a Monday, 10:00-10:30
    slots = forecast_slots(history, TZ, 0, weeks=1)
    assert slots[20] == 100 and sum(slots) == 100
    rows = plan_day(cfg.roster, cfg.staffing, date(2026, 11, 23), slots, 180, TARGET)
    ten = rows[20]
    assert ten.start.hour == 10 and ten.needed == 14 and ten.rostered == 5
    assert ten.short_by == 9
    night = rows[4]  # 02:00: closed, two on call, no calls
    assert night.needed == 0 and night.minimum == 2 and night.short_by == 0
