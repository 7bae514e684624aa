"""Routing rules per branch (when -> target), named rotas, holidays open for some
branches only, the operator fallback by time of day, and day sets (issue 10, item 2)."""

from __future__ import annotations

import json
from datetime import date, datetime, time
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from config_files import edit

from cli.main import main
from ivr.config import ConfigError, HotlineConfig, load_config
from ivr.domain.calendar import TimeWindow
from ivr.domain.lookahead import coverage_gaps
from ivr.domain.routing import (
    AgentState,
    CallContext,
    Decision,
    Presence,
    Route,
    RouteKind,
    decide,
    queue_members,
)
from ivr.domain.rules import Rule, RuleTarget, TargetKind, When, first_match
from ivr.domain.shifts import DaySpec, Shift

SHANGHAI = ZoneInfo("Asia/Shanghai")
MONDAY_10 = datetime(2026, 11, 23, 10, 0, tzinfo=SHANGHAI)
MONDAY_23 = datetime(2026, 11, 23, 23, 0, tzinfo=SHANGHAI)
TUESDAY_03 = datetime(2026, 11, 24, 3, 0, tzinfo=SHANGHAI)
SATURDAY_12 = datetime(2026, 11, 28, 12, 0, tzinfo=SHANGHAI)
NATIONAL_DAY_FRI_14 = datetime(2026, 10, 2, 14, 0, tzinfo=SHANGHAI)  # a holiday, a Friday
NATIONAL_DAY_FRI_23 = datetime(2026, 10, 2, 23, 0, tzinfo=SHANGHAI)
NATIONAL_DAY_SAT_03 = datetime(2026, 10, 3, 3, 0, tzinfo=SHANGHAI)
CALLER = "13912345678"
CREW_MOBILE = "+8613700000009"

SEATS = """
rotas:
  night_crew:
    - {agent: zhao, days: [mon, tue, wed, thu, fri, sat, sun], hours: ["17:00-09:30"]}
"""
ROUTING = """
trunks:
  carrier: {host: 127.0.0.1, port: 5070}
operator:
  rules:
    - when: {windows: ["17:00-09:30"]}
      target: {branch: emergency}
"""
REPAIRS = """repairs:
    skill: repairs
    priority: 3
    rules:
      - when: {windows: ["17:00-09:30"], days: [mon, tue, wed, thu, fri, sat, sun]}
        target: {rota: night_crew}
      - when: {holiday: true}
        target: {number: "+86 137 0000 0009"}
      - when: {days: weekends}
        target: voicemail
"""


def utility(config_dir: Path) -> Path:
    """The sample with a night crew for repairs, an external number on holidays, an
    operator fallback at night, and National Day open for repairs and emergency only."""
    (config_dir / "seats.yaml").write_text(
        (config_dir / "seats.yaml").read_text(encoding="utf-8") + SEATS, encoding="utf-8"
    )
    edit(config_dir, "routing.yaml", "repairs: {skill: repairs, priority: 3}\n", REPAIRS)
    (config_dir / "routing.yaml").write_text(
        (config_dir / "routing.yaml").read_text(encoding="utf-8") + ROUTING, encoding="utf-8"
    )
    edit(
        config_dir,
        "calendar.yaml",
        "name: National Day}",
        "name: National Day, open_branches: [repairs, emergency]}",
    )
    return config_dir


@pytest.fixture
def cfg(config_dir: Path) -> HotlineConfig:
    return load_config(utility(config_dir), env={})


def route(
    cfg: HotlineConfig, at: datetime, branch: str, presence: Presence | None = None
) -> Decision:
    call = CallContext(CALLER, branch)
    return decide(call, at, cfg.roster, cfg.policy, presence or Presence())


def trace_has(d: Decision, text: str) -> bool:
    return any(text in line for line in d.trace)


# --- rules ----------------------------------------------------------------------------


def test_in_the_day_no_rule_holds_and_repairs_queue_as_before(cfg: HotlineConfig) -> None:
    d = route(cfg, MONDAY_10, "repairs")
    assert d.route == Route(RouteKind.QUEUE, "repairs")
    assert trace_has(d, "no rule of repairs holds: its default route")


def test_at_night_repairs_go_to_the_night_crew_rota(cfg: HotlineConfig) -> None:
    d = route(cfg, MONDAY_23, "repairs")
    assert d.route == Route(RouteKind.ROTA, "night_crew")
    assert d.queue == "repairs" and d.priority == 3
    assert trace_has(d, "rule 1 of repairs: window 17:00-09:30 from Mon 2026-11-23")
    assert trace_has(d, "-> rota night_crew")
    assert trace_has(d, "rota 'night_crew': zhao; free: zhao")
    after_midnight = route(cfg, TUESDAY_03, "repairs")
    assert after_midnight.route == Route(RouteKind.ROTA, "night_crew")
    assert trace_has(after_midnight, "from Mon 2026-11-23")


def test_a_night_window_starting_on_a_holiday_does_not_vanish(cfg: HotlineConfig) -> None:
    for at in (NATIONAL_DAY_FRI_23, NATIONAL_DAY_SAT_03):
        d = route(cfg, at, "repairs")
        assert d.route == Route(RouteKind.ROTA, "night_crew"), d.trace
        assert trace_has(d, "(holiday National Day)")
    # and the crew's rota shift itself (explicit weekdays, across midnight) runs then
    assert [a.id for a in cfg.roster.on_call(NATIONAL_DAY_FRI_23, "night_crew")] == ["zhao"]


def test_a_holiday_rule_sends_repairs_to_the_crew_mobile(cfg: HotlineConfig) -> None:
    d = route(cfg, NATIONAL_DAY_FRI_14, "repairs")
    assert d.route == Route(RouteKind.EXTERNAL, f"{CREW_MOBILE}@carrier")
    assert d.overflow is RouteKind.CALLBACK  # nobody answers the mobile: the overflow
    assert trace_has(d, "rule 2 of repairs")
    assert trace_has(d, f"-> number {CREW_MOBILE} via carrier")


def test_a_bare_target_is_taken_and_rules_are_tried_in_order(cfg: HotlineConfig) -> None:
    d = route(cfg, SATURDAY_12, "repairs")
    assert d.route.kind is RouteKind.VOICEMAIL
    assert trace_has(d, "rule 3 of repairs: Sat 2026-11-28 in days weekends")
    # at 23:00 the same Saturday rule 1 comes first
    night = route(cfg, datetime(2026, 11, 28, 23, 0, tzinfo=SHANGHAI), "repairs")
    assert night.route.kind is RouteKind.ROTA


def test_a_holiday_closes_every_branch_but_those_listed(cfg: HotlineConfig) -> None:
    d = route(cfg, NATIONAL_DAY_FRI_14, "complaints")
    assert d.route == Route(RouteKind.CALLBACK, CALLER)
    assert trace_has(
        d, "holiday National Day: open only for emergency, repairs; complaints closed: callback"
    )
    emergency = route(cfg, NATIONAL_DAY_FRI_14, "emergency")
    assert emergency.route == Route(RouteKind.EMERGENCY, "emergency")


def test_a_listed_branch_keeps_its_weekday_hours_on_the_holiday(cfg: HotlineConfig) -> None:
    cal = cfg.calendar
    assert cal.branch_status(NATIONAL_DAY_FRI_14, "repairs").open
    assert not cal.branch_status(NATIONAL_DAY_FRI_14, "complaints").open
    assert not cal.branch_status(NATIONAL_DAY_FRI_23, "repairs").open
    assert not cal.status(NATIONAL_DAY_FRI_14).open  # the hotline as a whole: closed


def test_the_operator_fallback_follows_the_time_of_day(cfg: HotlineConfig) -> None:
    night = route(cfg, MONDAY_23, "operator")
    assert night.route == Route(RouteKind.EMERGENCY, "emergency")
    assert night.branch == "emergency" and night.queue == "emergency"
    assert trace_has(night, "rule 1 of operator: window 17:00-09:30")
    assert trace_has(night, "-> branch emergency")
    assert trace_has(night, "as branch emergency: closed: outside opening hours")
    day = route(cfg, MONDAY_10, "operator")
    assert day.route == Route(RouteKind.QUEUE, "operator")
    assert trace_has(day, "no rule of operator holds")


def test_a_queue_target_changes_the_skill_and_the_queue_members(config_dir: Path) -> None:
    rule = "rules: [{when: {days: workdays}, target: {queue: emergency}}]}"
    edit(config_dir, "routing.yaml", "priority: 1}", f"priority: 1, {rule}")
    cfg = load_config(config_dir, env={})
    d = route(cfg, MONDAY_10, "enquiries")
    assert d.route == Route(RouteKind.QUEUE, "enquiries")
    assert trace_has(d, "skill 'emergency': 1 on duty")
    members = queue_members(MONDAY_10, cfg.roster, cfg.policy, Presence())
    assert members["enquiries"] == {"seat5": False}  # liu: the only one with emergency
    weekend = queue_members(SATURDAY_12, cfg.roster, cfg.policy, Presence())
    assert weekend["enquiries"] == {}  # no rule holds: the default (nobody on duty)


def test_queue_members_follow_the_rota_a_rule_names(cfg: HotlineConfig) -> None:
    away = Presence(agent_states={"zhao": AgentState.AWAY})
    assert queue_members(MONDAY_23, cfg.roster, cfg.policy, Presence())["repairs"] == {
        "seat6": False
    }
    assert queue_members(MONDAY_23, cfg.roster, cfg.policy, away)["repairs"] == {"seat6": True}
    day = queue_members(MONDAY_10, cfg.roster, cfg.policy, Presence())["repairs"]
    assert set(day) == {"seat1", "seat3", "seat4", "seat5"}  # skilled on duty, as before


def test_an_empty_rota_falls_back_with_the_reason(cfg: HotlineConfig) -> None:
    signed_out = Presence(agent_states={"zhao": AgentState.SIGNED_OUT})
    d = route(cfg, MONDAY_23, "repairs", signed_out)
    assert d.route == Route(RouteKind.CALLBACK, CALLER)  # closed: overflow.when_closed
    assert trace_has(d, "nobody on rota 'night_crew' now: callback")


def test_the_sample_has_one_rota_named_emergency_and_no_rules(
    sample_config: HotlineConfig,
) -> None:
    assert sample_config.roster.rotas == ("emergency",)
    assert all(not b.rules for b in sample_config.policy.branches.values())
    assert sample_config.policy.operator_rules == ()
    assert sample_config.trunks == {}


def test_rotas_emergency_is_the_same_as_oncall(
    config_dir: Path, sample_config: HotlineConfig
) -> None:
    edit(config_dir, "seats.yaml", "\noncall:\n", "\nrotas:\n emergency:\n")
    cfg = load_config(config_dir, env={})
    assert cfg.roster.oncall == sample_config.roster.oncall
    for at in (MONDAY_10, MONDAY_23, NATIONAL_DAY_FRI_14):
        assert route(cfg, at, "emergency") == route(sample_config, at, "emergency")


# --- day sets --------------------------------------------------------------------------


def test_day_sets_in_a_list_unite_weekdays_and_named_sets(
    sample_config: HotlineConfig,
) -> None:
    cal = sample_config.calendar
    spec = DaySpec(weekdays=frozenset({"sat"}), sets=frozenset({"holidays"}))
    assert spec.matches(date(2026, 11, 28), cal)  # a Saturday
    assert spec.matches(date(2026, 10, 1), cal)  # a Thursday, holiday
    assert not spec.matches(date(2026, 11, 26), cal)  # an ordinary Thursday
    makeup = DaySpec(named="makeup")
    assert makeup.matches(date(2026, 10, 10), cal)
    assert not makeup.matches(date(2026, 10, 17), cal)
    assert str(spec) == "sat,holidays"


def test_explicit_weekdays_skip_a_holiday_by_day_but_not_a_night_from_it(
    sample_config: HotlineConfig,
) -> None:
    cal = sample_config.calendar
    weekdays = DaySpec(weekdays=frozenset({"fri"}))
    day = Shift(weekdays, TimeWindow(time(9), time(17)))
    night = Shift(weekdays, TimeWindow(time(22), time(6)))
    holiday_14 = NATIONAL_DAY_FRI_14.astimezone(cal.tz)
    assert not day.covers(holiday_14, cal)
    assert night.covers(NATIONAL_DAY_FRI_23.astimezone(cal.tz), cal)
    assert night.covers(NATIONAL_DAY_SAT_03.astimezone(cal.tz), cal)


def test_when_holiday_false_and_windows_across_midnight(sample_config: HotlineConfig) -> None:
    cal = sample_config.calendar
    rules = (
        Rule(
            When(holiday=False, windows=(TimeWindow(time(22), time(6)),)),
            RuleTarget(TargetKind.VOICEMAIL),
        ),
        Rule(When(), RuleTarget(TargetKind.CALLBACK)),
    )
    hit = first_match(rules, NATIONAL_DAY_FRI_23, cal)
    assert hit is not None and hit.index == 2  # a holiday: the first rule does not hold
    ordinary = first_match(rules, TUESDAY_03, cal)
    assert ordinary is not None and ordinary.index == 1
    assert "from Mon 2026-11-23" in ordinary.reason and "holiday: no" in ordinary.reason


# --- refused configurations --------------------------------------------------------------

BAD = [
    (
        "{rota: day_crew}",
        "branches.repairs.rules[0].target.rota",
        "no rota 'day_crew' in seats.yaml (rotas: emergency, night_crew)",
    ),
    ("{queue: plumbing}", "branches.repairs.rules[0].target.queue", "no agent in seats.yaml"),
    ("{branch: sales}", "branches.repairs.rules[0].target.branch", "no branch 'sales'"),
    ("{branch: repairs}", "branches.repairs.rules[0].target.branch", "to itself"),
    ("{number: '12'}", "branches.repairs.rules[0].target.number", ""),
    ("{number: '+8613700000009', trunk: pstn}", "branches.repairs.rules[0].target.trunk",
     "no trunk 'pstn'"),
    ("operator", "branches.repairs.rules[0].target", "'operator' is not a target"),
    ("{rota: night_crew, queue: repairs}", "branches.repairs.rules[0].target", "exactly one"),
]  # fmt: skip


@pytest.mark.parametrize(("target", "item", "reason"), BAD)
def test_a_bad_target_is_refused_naming_the_item(
    config_dir: Path, target: str, item: str, reason: str
) -> None:
    utility(config_dir)
    edit(config_dir, "routing.yaml", "target: {rota: night_crew}", f"target: {target}")
    with pytest.raises(ConfigError) as err:
        load_config(config_dir, env={})
    assert (err.value.file, err.value.item) == ("routing.yaml", item)
    assert reason in err.value.reason


def test_a_number_without_a_trunk_is_refused(config_dir: Path) -> None:
    utility(config_dir)
    edit(config_dir, "routing.yaml", "trunks:\n  carrier: {host: 127.0.0.1, port: 5070}\n", "")
    with pytest.raises(ConfigError) as err:
        load_config(config_dir, env={})
    assert err.value.item == "branches.repairs.rules[1].target"
    assert "needs a trunk" in err.value.reason


def test_branch_rules_that_go_round_are_refused(config_dir: Path) -> None:
    utility(config_dir)
    edit(config_dir, "routing.yaml", "target: {rota: night_crew}", "target: {branch: complaints}")
    rule = "rules: [{when: {days: all}, target: {branch: repairs}}]}"
    edit(config_dir, "routing.yaml", "priority: 2}", f"priority: 2, {rule}")
    with pytest.raises(ConfigError) as err:
        load_config(config_dir, env={})
    assert err.value.item == "branches.complaints.rules"
    assert "go round: complaints -> repairs -> complaints" in err.value.reason


def test_an_unknown_open_branch_and_a_doubled_emergency_rota_are_refused(
    config_dir: Path,
) -> None:
    edit(config_dir, "calendar.yaml", "name: National Day}", "name: X, open_branches: [sales]}")
    with pytest.raises(ConfigError) as err:
        load_config(config_dir, env={})
    assert (err.value.file, err.value.item) == ("calendar.yaml", "holidays[3].open_branches[0]")
    edit(config_dir, "calendar.yaml", "open_branches: [sales]", "open_branches: [operator]")
    load_config(config_dir, env={})
    path = config_dir / "seats.yaml"
    path.write_text(path.read_text() + "rotas:\n  emergency: []\n", encoding="utf-8")
    with pytest.raises(ConfigError) as err:
        load_config(config_dir, env={})
    assert err.value.item == "rotas.emergency" and "also given as oncall" in err.value.reason


def test_oncall_true_needs_the_emergency_rota(config_dir: Path) -> None:
    edit(config_dir, "seats.yaml", "\noncall:\n", "\nrotas:\n night:\n")
    with pytest.raises(ConfigError) as err:
        load_config(config_dir, env={})
    assert err.value.item == "branches.emergency.oncall"
    assert "no on-call rota 'emergency'" in err.value.reason


def test_an_unknown_key_in_a_rule_is_refused_with_a_suggestion(config_dir: Path) -> None:
    utility(config_dir)
    edit(config_dir, "routing.yaml", "{holiday: true}", "{holidays: true}")
    with pytest.raises(ConfigError) as err:
        load_config(config_dir, env={})
    assert err.value.item == "branches.repairs.rules[1].when.holidays"
    assert "did you mean 'holiday'?" in err.value.reason


# --- check-config looks ahead through the rules (item 6 with item 2) -----------------------

NATIONAL_DAY_WEEKS = datetime(2026, 9, 28, tzinfo=SHANGHAI)  # holidays 1-7 Oct


def test_the_utility_reaches_a_person_or_says_why_not_on_purpose(cfg: HotlineConfig) -> None:
    for start in (NATIONAL_DAY_WEEKS, datetime(2026, 11, 23, tzinfo=SHANGHAI)):
        assert coverage_gaps(cfg.roster, cfg.policy, start, 24 * 7 * 2) == []


def test_a_rule_naming_a_rota_with_nobody_on_call_is_a_gap_and_so_is_the_hop_to_it(
    config_dir: Path,
) -> None:
    utility(config_dir)
    edit(config_dir, "seats.yaml", 'hours: ["17:00-09:30"]}', 'hours: ["17:00-23:00"]}')
    edit(config_dir, "routing.yaml", "target: {branch: emergency}", "target: {branch: repairs}")
    cfg = load_config(config_dir, env={})
    gaps = coverage_gaps(cfg.roster, cfg.policy, datetime(2026, 11, 23, tzinfo=SHANGHAI), 48)
    assert {g.branch for g in gaps} == {"repairs", "operator"}
    repairs = [g for g in gaps if g.branch == "repairs"]
    assert (
        repairs[0].start.astimezone(SHANGHAI).hour,
        repairs[0].end.astimezone(SHANGHAI).hour,
    ) == (0, 9)
    assert repairs[1].start.astimezone(SHANGHAI) == MONDAY_23
    assert repairs[0].reason == (
        "rule 1 of repairs (rota night_crew): nobody on rota 'night_crew': overflow"
    )
    operator = [g for g in gaps if g.branch == "operator"]
    assert operator[0].reason.startswith("rule 1 of operator (branch repairs): rule 1 of repairs")


def test_a_holiday_open_for_a_branch_must_staff_it_in_its_weekday_hours(
    config_dir: Path,
) -> None:
    edit(
        config_dir, "calendar.yaml", "name: National Day}", "name: X, open_branches: [complaints]}"
    )
    cfg = load_config(config_dir, env={})
    gaps = coverage_gaps(cfg.roster, cfg.policy, NATIONAL_DAY_WEEKS, 24 * 14)
    assert {g.branch for g in gaps} == {"complaints"}
    days = sorted({g.start.astimezone(SHANGHAI).date().isoformat() for g in gaps})
    assert days == ["2026-10-01", "2026-10-02", "2026-10-05", "2026-10-06", "2026-10-07"]
    assert "skill 'complaints'" in gaps[0].reason


def test_check_config_shows_rules_trunks_rotas_and_a_rota_gap(
    config_dir: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    utility(config_dir)
    edit(config_dir, "seats.yaml", 'hours: ["17:00-09:30"]}', 'hours: ["17:00-23:00"]}')
    monkeypatch.setenv("HOTLINE_NOW", "2026-11-25T10:00:00+08:00")
    assert main(["check-config", "--config", str(config_dir), "--weeks", "1"]) == 0
    out = capsys.readouterr().out
    assert "in rota(s) emergency, night_crew" in out
    assert "routing rules: 4; trunks: carrier@127.0.0.1:5070" in out
    assert "warning: branch repairs: no person in" in out
    assert "nobody on rota 'night_crew'" in out


def test_simulate_follows_the_rules_with_their_trace(
    config_dir: Path, capsys: pytest.CaptureFixture[str], clean_env: pytest.MonkeyPatch
) -> None:
    utility(config_dir)
    argv = ["simulate", "--config", str(config_dir), "--caller", CALLER, "--json"]
    assert main([*argv, "--keys", "3", "--at", NATIONAL_DAY_FRI_14.isoformat()]) == 0
    r = json.loads(capsys.readouterr().out)
    assert (r["route"]["kind"], r["route"]["target"]) == ("external", f"{CREW_MOBILE}@carrier")
    assert any("rule 2 of repairs" in line for line in r["trace"])
    assert main([*argv, "--keys", "2", "--at", NATIONAL_DAY_FRI_14.isoformat()]) == 0
    r = json.loads(capsys.readouterr().out)
    assert r["route"]["kind"] == "callback"
    assert any("open only for emergency, repairs" in line for line in r["trace"])


def test_a_caller_waiting_for_a_rota_is_waiting_on_the_board() -> None:
    from types import SimpleNamespace

    from web.queries import is_waiting

    assert is_waiting(SimpleNamespace(answered_at=None, route_kind="rota"))  # type: ignore[arg-type]
    assert not is_waiting(SimpleNamespace(answered_at=None, route_kind="external"))  # type: ignore[arg-type]


def test_an_empty_rota_is_known_and_its_rule_is_a_gap(config_dir: Path) -> None:
    utility(config_dir)
    edit(config_dir, "seats.yaml", SEATS.split("\n", 2)[2], "  night_crew: []\n")
    cfg = load_config(config_dir, env={})
    assert cfg.roster.rotas == ("emergency", "night_crew")
    gaps = coverage_gaps(cfg.roster, cfg.policy, datetime(2026, 11, 23, tzinfo=SHANGHAI), 24)
    assert {g.branch for g in gaps} == {"repairs"}


def test_the_operator_queue_follows_its_rule_to_another_branch(cfg: HotlineConfig) -> None:
    night = queue_members(MONDAY_23, cfg.roster, cfg.policy, Presence())
    assert night["operator"] == night["emergency"] == {"seat6": False, "seat3": False}
    day = queue_members(MONDAY_10, cfg.roster, cfg.policy, Presence())
    assert set(day["operator"]) == {f"seat{i}" for i in range(1, 6)}  # everyone on duty
