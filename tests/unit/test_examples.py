"""The two example hotlines under config/examples/ (issue 10, item 9): each is a
complete config directory that passes `check-config` with its look-ahead, validates
against `hotline config schema`, and routes as its comments say at a dozen instants
(through `hotline simulate` and `hotline config explain`, the CLI's own main).

utility:  America/Chicago, open every day, a 24-hour standby rota, repairs by the desk
          in the day and the night crew at night, the crew lead's mobile on a holiday's
          day hours, holidays closed except repairs, emergency and the operator.
property: Asia/Shanghai, the residents' desk Mon-Sat, a concierge rota 07:00-23:00,
          the maintenance on-call rota outside workday hours, make-up days.
"""

from __future__ import annotations

import json
import shutil
from datetime import date
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import yaml
from config_files import edit

from cli.main import main
from ivr.config.schema import FILES

EXAMPLES = Path(__file__).resolve().parents[2] / "config" / "examples"
UTILITY = str(EXAMPLES / "utility")
PROPERTY = str(EXAMPLES / "property")
US_CALLER = "+13125550188"
CN_CALLER = "+8613912345678"
CREW_LEAD = "+13125550147@carrier"


@pytest.fixture
def cli(clean_env: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> Any:
    """Run the `hotline` command; return (exit code, stdout), stderr must be empty."""

    def run(*argv: str) -> tuple[int, str]:
        code = main(list(argv))
        out = capsys.readouterr()
        assert out.err == ""
        return code, out.out

    return run


@pytest.fixture
def route(cli: Any) -> Any:
    """`hotline simulate --json` at an instant with keys: the result as a dict."""

    def run(config: str, at: str, keys: str) -> dict[str, Any]:
        caller = US_CALLER if config == UTILITY else CN_CALLER
        argv = ["simulate", "--config", config, "--at", at, "--keys", keys, "--caller", caller]
        code, out = cli(*argv, "--json")
        assert code == 0
        result: dict[str, Any] = json.loads(out)
        return result

    return run


@pytest.fixture
def explain(cli: Any) -> Any:
    def run(config: str, at: str) -> dict[str, Any]:
        code, out = cli("config", "explain", "--config", config, "--at", at, "--json")
        assert code == 0
        result: dict[str, Any] = json.loads(out)
        return result

    return run


def where(r: dict[str, Any]) -> tuple[str, str, str]:
    """(branch, route kind, route target) of a simulate result."""
    return r["branch"], r["route"]["kind"], r["route"]["target"]


def ids(people: list[dict[str, Any]]) -> list[str]:
    return [p["agent"] for p in people]


# --- complete directories: check-config with the look-ahead, and the JSON Schema ----------


@pytest.mark.parametrize(
    ("config", "monday", "weeks"),
    [
        (UTILITY, "2026-12-21T12:00:00-06:00", 3),  # Christmas and New Year's Day
        (UTILITY, "2027-03-08T12:00:00-06:00", 1),  # clocks go forward on Sun 14 March
        (UTILITY, "2027-11-01T12:00:00-05:00", 4),  # clocks go back on 7 Nov; Thanksgiving
        (PROPERTY, "2026-12-28T12:00:00+08:00", 1),  # New Year's Day
        (PROPERTY, "2027-01-25T12:00:00+08:00", 4),  # make-up days around Spring Festival
    ],
)
def test_check_config_passes_with_the_look_ahead_over_holidays(
    cli: Any, clean_env: pytest.MonkeyPatch, config: str, monday: str, weeks: int
) -> None:
    clean_env.setenv("HOTLINE_NOW", monday)
    code, out = cli("check-config", "--config", config, "--weeks", str(weeks))
    assert code == 0
    assert "warning" not in out
    span = f"{monday[:10]} + {weeks} week(s)"
    assert f"look-ahead {span}: staffing and every branch's route covered" in out


def test_check_config_passes_with_its_default_eight_weeks(
    cli: Any, clean_env: pytest.MonkeyPatch
) -> None:
    clean_env.setenv("HOTLINE_NOW", "2026-12-07T12:00:00+00:00")
    for config in (UTILITY, PROPERTY):
        code, out = cli("check-config", "--config", config)
        assert code == 0 and "OK" in out and "warning" not in out
        assert "look-ahead 2026-12-07 + 8 week(s): staffing and every branch's route" in out


def test_the_look_ahead_would_catch_a_weekend_with_no_night_crew(
    cli: Any, clean_env: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """The checks above mean something: the utility's weekend crew taken off warns."""
    copy = tmp_path / "utility"
    shutil.copytree(UTILITY, copy)
    edit(copy, "seats.yaml", "{agent: gus, days: [thu, fri, sat, sun]", "{agent: gus, days: [thu]")
    edit(copy, "seats.yaml", "{agent: hana, days: [fri, sat, sun]", "{agent: hana, days: [fri]")
    clean_env.setenv("HOTLINE_NOW", "2026-12-07T12:00:00-06:00")
    code, out = cli("check-config", "--config", str(copy), "--weeks", "1")
    assert code == 0  # warnings, not errors
    assert "warning: branch repairs: no person in 3 span(s) of 2026-12-07 + 1 week(s)" in out
    assert (
        "(rule 2 of repairs (rota night_crew): nobody on rota 'night_crew': overflow), "
        "first Mon 2026-12-07 00:00 to Mon 07:00"  # Sunday's night, then Saturday's, Sunday's
    ) in out


def _json(value: Any) -> Any:
    """YAML data as an editor's YAML language server sees it (dates are text)."""
    return json.loads(
        json.dumps(value, default=lambda v: v.isoformat() if isinstance(v, date) else v)
    )


@pytest.mark.parametrize("config", [UTILITY, PROPERTY])
def test_every_file_is_there_and_valid_against_the_json_schema(cli: Any, config: str) -> None:
    code, out = cli("config", "schema")
    assert code == 0
    schema = json.loads(out)
    directory = {
        name: _json(yaml.safe_load((Path(config) / name).read_text(encoding="utf-8")))
        for name in FILES
    }
    jsonschema.Draft202012Validator(schema).validate(directory)
    directory["routing.yaml"]["branches"]["repairs" if config == UTILITY else "desk"]["oncal"] = 1
    assert not jsonschema.Draft202012Validator(schema).is_valid(directory)


@pytest.mark.parametrize(
    ("config", "weights", "trunks"),
    [
        (UTILITY, {"emergency": 10, "repairs": 5, "account": 1}, ["trunk-carrier"]),
        (PROPERTY, {"desk": 2, "visitors": 4, "parcels": 3, "maintenance": 6}, []),
    ],
)
def test_the_asterisk_side_renders_from_the_shared_templates(
    config: str, weights: dict[str, int], trunks: list[str]
) -> None:
    """No config/asterisk/ in an example: the templates are the repository's, and they
    render for it (a queue per branch weighted by its priority, a trunk endpoint)."""
    from ivr.bootstrap import asterisk_files
    from ivr.config import load_config

    assert not (Path(config) / "asterisk").exists()
    files = asterisk_files(load_config(config, env={}))
    queues = files["queues.conf"].split("\n[")
    for branch, weight in weights.items():
        section = next(q for q in queues if q.startswith(f"{branch}](hotline-queue)"))
        assert f"weight = {weight}" in section
    assert any(q.startswith("operator](hotline-queue)") for q in queues)
    endpoints = [line for line in files["pjsip.conf"].splitlines() if line.startswith("[trunk-")]
    assert sorted(set(endpoints)) == [f"[{t}]" for t in trunks]


# --- the utility: America/Chicago ---------------------------------------------------------

MON_10 = "2026-12-07T10:00:00-06:00"
TUE_02 = "2026-12-08T02:00:00-06:00"  # Monday's night, past midnight
SAT_12 = "2026-12-12T12:00:00-06:00"
SUN_22 = "2026-12-13T22:00:00-06:00"
CHRISTMAS_03 = "2026-12-25T03:00:00-06:00"  # the holiday's morning: Thursday's night crew
CHRISTMAS_10 = "2026-12-25T10:00:00-06:00"  # a Friday holiday, day hours
CHRISTMAS_21 = "2026-12-25T21:00:00-06:00"  # the holiday's night: Friday's night crew


@pytest.mark.parametrize(
    ("at", "keys", "branch", "kind", "target", "trace"),
    [
        # a weekday: the desk for repairs and billing, the standby engineer for emergencies
        (MON_10, "1", "emergency", "rota", "standby", "rota 'standby': ivan; free: ivan"),
        (MON_10, "2", "repairs", "queue", "repairs", "skill 'repairs': 3 on duty"),
        (MON_10, "3", "account", "queue", "account", "skill 'account': 3 on duty"),
        (MON_10, "", "operator", "queue", "operator", "skill 'operator': 3 on duty"),
        (MON_10, "0", "operator", "queue", "operator", "skill 'operator': 3 on duty"),
        (MON_10, "72", "repairs", "queue", "repairs", "skill 'repairs': 3 on duty"),
        # the night crosses midnight: Monday's crew and standby at 02:00 on Tuesday
        (TUE_02, "2", "repairs", "rota", "night_crew", "rota 'night_crew': ed, farah;"),
        (TUE_02, "1", "emergency", "rota", "standby", "rota 'standby': kim;"),
        (TUE_02, "3", "account", "callback", US_CALLER, "(closed): callback"),
        # the operator at night is the emergency line, not the repair crew
        (TUE_02, "", "emergency", "rota", "standby", "rule 1 of operator: window 19:00-07:00"),
        # the weekend is an ordinary open day, with the weekend team
        (SAT_12, "2", "repairs", "queue", "repairs", "2 on duty, free: ben, diego"),
        (SUN_22, "2", "repairs", "rota", "night_crew", "rota 'night_crew': gus, hana;"),
        (SUN_22, "1", "emergency", "rota", "standby", "rota 'standby': lee;"),
        # a holiday: billing closed all day, repairs to the crew lead's mobile by day ...
        (CHRISTMAS_10, "3", "account", "callback", US_CALLER, "holiday Christmas Day: open only"),
        (CHRISTMAS_10, "2", "repairs", "external", CREW_LEAD, "rule 3 of repairs: Fri 2026-12-25"),
        (CHRISTMAS_10, "1", "emergency", "rota", "standby", "rota 'standby': ivan, jo;"),
        (CHRISTMAS_10, "", "emergency", "rota", "standby", "rule 2 of operator: Fri 2026-12-25"),
        # ... and to the night crew at night (a night window runs on a holiday)
        (CHRISTMAS_21, "2", "repairs", "rota", "night_crew", "rota 'night_crew': gus, hana;"),
        (CHRISTMAS_21, "3", "account", "callback", US_CALLER, "holiday Christmas Day"),
        (CHRISTMAS_03, "2", "repairs", "rota", "night_crew", "rota 'night_crew': ed, gus;"),
        # the minute the desk's window closes and opens
        ("2026-12-07T18:59:00-06:00", "2", "repairs", "queue", "repairs", "free: ana, carla"),
        ("2026-12-07T19:00:00-06:00", "2", "repairs", "rota", "night_crew", "ed, farah;"),
        ("2026-12-08T06:59:00-06:00", "2", "repairs", "rota", "night_crew", "ed, farah;"),
        ("2026-12-08T07:00:00-06:00", "2", "repairs", "queue", "repairs", "free: ana, carla"),
        # clocks go forward at 02:00 on Sun 14 March 2027: the desk still opens at 07:00 CDT
        ("2027-03-14T01:59:00-06:00", "2", "repairs", "rota", "night_crew", "gus, hana;"),
        ("2027-03-14T03:00:00-05:00", "2", "repairs", "rota", "night_crew", "gus, hana;"),
        ("2027-03-14T06:59:00-05:00", "2", "repairs", "rota", "night_crew", "gus, hana;"),
        ("2027-03-14T07:00:00-05:00", "2", "repairs", "queue", "repairs", "free: ben, diego"),
        # clocks go back at 02:00 on Sun 7 Nov 2027: 01:30 twice, both the night crew
        ("2027-11-07T01:30:00-05:00", "2", "repairs", "rota", "night_crew", "gus, hana;"),
        ("2027-11-07T01:30:00-06:00", "2", "repairs", "rota", "night_crew", "gus, hana;"),
        ("2027-11-07T07:00:00-06:00", "2", "repairs", "queue", "repairs", "free: ben, diego"),
    ],
)
def test_the_utility_routes_each_key_at_each_instant(
    route: Any, at: str, keys: str, branch: str, kind: str, target: str, trace: str
) -> None:
    r = route(UTILITY, at, keys)
    assert where(r) == (branch, kind, target)
    assert any(trace in line for line in r["trace"]), r["trace"]


def test_the_utility_answers_in_spanish_after_key_7(route: Any) -> None:
    r = route(UTILITY, MON_10, "72")
    assert r["language"] == "es" and r["prompts"][1] == ["welcome"]


def test_the_utility_explained_on_a_weekday(explain: Any) -> None:
    r = explain(UTILITY, MON_10)
    assert r["local"] == "2026-12-07 10:00 CST (America/Chicago)"
    assert r["open"] is True and r["hours"] == "open: workday window 07:00-19:00"
    assert ids(r["on_duty"]) == ["dana", "ana", "carla"]
    assert [(p["agent"], p["rota"]) for p in r["on_call"]] == [("ivan", "standby")]
    assert {b["branch"]: b["reach"] for b in r["branches"]} == dict.fromkeys(
        ["emergency", "repairs", "account"], "person"
    )
    menu = {row["key"]: row["goes"] for row in r["menu"]["es"]}
    assert menu["1"] == "rota standby (priority 10, then callback)"
    assert menu["2"] == "queue repairs (priority 5, then callback)"
    assert menu["7"] == "the same menu in es"


def test_the_utility_explained_at_night_reaches_the_crew(explain: Any) -> None:
    """The desk is closed, but repairs reach a person (the night crew's rule): the
    explanation says so rather than `closed: callback` (a fix made with these examples)."""
    r = explain(UTILITY, TUE_02)
    assert r["open"] is False and r["on_duty"] == []
    assert [(p["agent"], p["rota"]) for p in r["on_call"]] == [
        ("ed", "night_crew"), ("farah", "night_crew"), ("kim", "standby"),
    ]  # fmt: skip
    reach = {b["branch"]: b["reach"] for b in r["branches"]}
    assert reach == {"emergency": "person", "repairs": "person", "account": "callback"}


def test_the_utility_explained_on_a_holiday(explain: Any, cli: Any) -> None:
    r = explain(UTILITY, CHRISTMAS_10)
    assert r["day"] == "holiday" and r["hours"] == "closed: holiday (Christmas Day)"
    assert r["on_duty"] == []  # the desk's listed weekdays are days off on a holiday
    assert ids(r["on_call"]) == ["ivan", "jo"]
    reach = {b["branch"]: b["reach"] for b in r["branches"]}
    assert reach == {"emergency": "person", "repairs": "external", "account": "callback"}
    menu = {row["key"]: row["goes"] for row in r["menu"]["en"]}
    assert menu["2"] == f"external {CREW_LEAD} (then callback)"
    code, out = cli("config", "explain", "--config", UTILITY, "--at", CHRISTMAS_10)
    assert code == 0
    assert "branch repairs (skill repairs, priority 5): an outside number" in out.splitlines()
    assert "on call: ivan@standby1 [emergency] on rota standby, jo@standby2" in out


def test_the_utility_explained_on_the_day_clocks_go_forward(explain: Any) -> None:
    r = explain(UTILITY, "2027-03-14T07:00:00-05:00")
    assert r["local"] == "2027-03-14 07:00 CDT (America/Chicago)" and r["open"] is True
    assert ids(r["on_duty"]) == ["ben", "diego"]


# --- the property office: Asia/Shanghai -----------------------------------------------------

P_MON_10 = "2026-12-07T10:00:00+08:00"
P_MON_20 = "2026-12-07T20:00:00+08:00"
P_TUE_02 = "2026-12-08T02:00:00+08:00"  # Monday's night, past midnight
P_SAT_10 = "2026-12-12T10:00:00+08:00"
FESTIVAL_10 = "2027-02-08T10:00:00+08:00"  # Spring Festival, a Monday
FESTIVAL_2330 = "2027-02-08T23:30:00+08:00"
MAKEUP_SUN_10 = "2027-01-31T10:00:00+08:00"  # a Sunday worked as a Monday
MAKEUP_SAT_1730 = "2027-02-20T17:30:00+08:00"  # a Saturday worked as a Friday
SAT_1730 = "2027-02-27T17:30:00+08:00"  # an ordinary Saturday: the desk closed at 17:00


@pytest.mark.parametrize(
    ("at", "keys", "branch", "kind", "target", "trace"),
    [
        # a workday: the concierge rota, the engineers on site, the residents' desk
        (P_MON_10, "11", "visitors", "rota", "concierge", "rota 'concierge': lin;"),
        (P_MON_10, "12", "parcels", "rota", "concierge", "rota 'concierge': lin;"),
        (P_MON_10, "2", "maintenance", "queue", "maintenance", "3 on duty, free: sun, tang, xu"),
        (P_MON_10, "3", "desk", "queue", "desk", "skill 'desk': 2 on duty, free: sun, he"),
        (P_MON_10, "", "desk", "queue", "desk", "rule 1 of operator: window 08:30-18:00"),
        (P_MON_10, "1#3", "desk", "queue", "desk", "skill 'desk': 2 on duty"),  # '#' back
        (P_MON_10, "1", "visitors", "rota", "concierge", "rota 'concierge': lin;"),  # silence
        (P_MON_10, "83", "desk", "queue", "desk", "skill 'desk': 2 on duty"),
        # the evening: desk closed, the lobby and the engineer on call
        (P_MON_20, "3", "desk", "callback", CN_CALLER, "(closed): callback"),
        (P_MON_20, "2", "maintenance", "rota", "maintenance_oncall", "'maintenance_oncall': wu;"),
        (P_MON_20, "11", "visitors", "rota", "concierge", "rota 'concierge': guo;"),
        (P_MON_20, "", "visitors", "rota", "concierge", "rule 2 of operator"),
        # the night crosses midnight: the gate closed, parcels called back, Wu on call
        (P_TUE_02, "11", "visitors", "voicemail", "hotline", "rule 2 of visitors"),
        (P_TUE_02, "12", "parcels", "callback", CN_CALLER, "rule 2 of parcels"),
        (P_TUE_02, "2", "maintenance", "rota", "maintenance_oncall", "'maintenance_oncall': wu;"),
        (P_TUE_02, "", "maintenance", "rota", "maintenance_oncall", "rule 3 of operator"),
        # Saturday: the desk open, the engineers not (Zheng on call), the weekend lobby
        (P_SAT_10, "3", "desk", "queue", "desk", "skill 'desk': 1 on duty, free: ma"),
        (P_SAT_10, "2", "maintenance", "rota", "maintenance_oncall", "zheng;"),
        (P_SAT_10, "", "visitors", "rota", "concierge", "rota 'concierge': zhou;"),
        # the minute windows open and close: the desk's Saturday lunch, the lobby's shifts
        ("2026-12-12T11:59:00+08:00", "3", "desk", "queue", "desk", "free: ma"),
        ("2026-12-12T12:00:00+08:00", "3", "desk", "callback", CN_CALLER, "(closed)"),
        ("2026-12-12T13:00:00+08:00", "3", "desk", "queue", "desk", "free: ma"),
        ("2026-12-13T14:59:00+08:00", "11", "visitors", "rota", "concierge", "': zhou;"),
        ("2026-12-13T15:00:00+08:00", "11", "visitors", "rota", "concierge", "': song;"),
        ("2026-12-13T22:59:00+08:00", "12", "parcels", "rota", "concierge", "': song;"),
        ("2026-12-13T23:00:00+08:00", "12", "parcels", "callback", CN_CALLER, "rule 2"),
        ("2026-12-07T08:29:00+08:00", "2", "maintenance", "rota", "maintenance_oncall", "zheng"),
        ("2026-12-07T08:30:00+08:00", "2", "maintenance", "queue", "maintenance", "tang, xu"),
        # Spring Festival: the desk closed all day, the rest as on a closed day
        (FESTIVAL_10, "3", "desk", "callback", CN_CALLER, "holiday Spring Festival: open only"),
        (FESTIVAL_10, "2", "maintenance", "rota", "maintenance_oncall", "zheng;"),
        (FESTIVAL_10, "11", "visitors", "rota", "concierge", "rota 'concierge': zhou;"),
        (FESTIVAL_10, "", "visitors", "rota", "concierge", "rule 2 of operator"),
        (FESTIVAL_2330, "11", "visitors", "voicemail", "hotline", "rule 2 of visitors"),
        (FESTIVAL_2330, "2", "maintenance", "rota", "maintenance_oncall", "zheng;"),
        # make-up days: a Sunday worked as Monday, a Saturday worked as Friday (to 18:00)
        (MAKEUP_SUN_10, "3", "desk", "queue", "desk", "skill 'desk': 2 on duty, free: sun, he"),
        (MAKEUP_SUN_10, "2", "maintenance", "queue", "maintenance", "free: sun, tang, xu"),
        (MAKEUP_SUN_10, "11", "visitors", "rota", "concierge", "rota 'concierge': lin;"),
        (MAKEUP_SUN_10, "", "desk", "queue", "desk", "rule 1 of operator"),
        (MAKEUP_SAT_1730, "3", "desk", "queue", "desk", "3 on duty, free: sun, he, ma"),
        (SAT_1730, "3", "desk", "callback", CN_CALLER, "(closed): callback"),
    ],
)
def test_the_property_office_routes_each_key_at_each_instant(
    route: Any, at: str, keys: str, branch: str, kind: str, target: str, trace: str
) -> None:
    r = route(PROPERTY, at, keys)
    assert where(r) == (branch, kind, target)
    assert any(trace in line for line in r["trace"]), r["trace"]


def test_the_property_office_explained_on_a_holiday_night(explain: Any) -> None:
    r = explain(PROPERTY, FESTIVAL_2330)
    assert r["day"] == "holiday" and r["on_duty"] == []
    assert [(p["agent"], p["rota"]) for p in r["on_call"]] == [("zheng", "maintenance_oncall")]
    reach = {b["branch"]: b["reach"] for b in r["branches"]}
    assert reach == {
        "desk": "callback", "visitors": "voicemail", "parcels": "callback",
        "maintenance": "person",
    }  # fmt: skip
    concierge = {row["key"]: row["goes"] for row in r["menu"]["en"] if row["node"] == "concierge"}
    assert concierge == {
        "1": "voicemail hotline",
        "2": "callback the caller's number",
        "#": "menu main",
        "*": "menu concierge again",
        "none": "voicemail hotline",
    }


def test_the_property_office_explained_on_a_make_up_day(explain: Any) -> None:
    r = explain(PROPERTY, MAKEUP_SUN_10)
    assert r["open"] is True and r["day"] == "makeup"
    assert ids(r["on_duty"]) == ["sun", "he", "tang", "xu"]
    assert ids(r["on_call"]) == ["lin"]
    assert all(b["reach"] == "person" for b in r["branches"])
