"""`hotline simulate`: the IVR session with scripted keys, at a fixed instant."""

from __future__ import annotations

import json
import shutil
from datetime import datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from cli.main import main
from ivr.app.simulate import simulate as simulate_session
from ivr.config import HotlineConfig, load_config

SHANGHAI = ZoneInfo("Asia/Shanghai")
SAMPLE_CONFIG_DIR = Path(__file__).resolve().parents[2] / "config"

MONDAY_10 = "2026-11-23T10:00:00+08:00"
SUNDAY_10 = "2026-11-22T10:00:00+08:00"
SUNDAY_03 = "2026-11-22T03:00:00+08:00"
CALLER = "13912345678"


def simulate(cfg: HotlineConfig, at: datetime, caller: str, keys: str) -> dict[str, Any]:
    return simulate_session(
        cfg.menu, cfg.roster, cfg.policy, cfg.site.default_language, at, caller, keys
    )


@pytest.fixture
def run(clean_env: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> Any:
    """run(at, keys, caller=..., *extra) -> the JSON `hotline simulate --json` printed."""

    def _run(at: str | None, keys: str, caller: str = CALLER, *extra: str) -> dict[str, Any]:
        argv = ["simulate", "--config", "config", "--caller", caller, "--keys", keys, "--json"]
        if at is not None:
            argv += ["--at", at]
        assert main([*argv, *extra]) == 0
        out = capsys.readouterr()
        assert out.err == ""
        result: dict[str, Any] = json.loads(out.out)
        return result

    return _run


def route_of(result: dict[str, Any]) -> tuple[str, str]:
    return result["route"]["kind"], result["route"]["target"]


def test_weekday_key_1_queues_for_enquiries(run: Any) -> None:
    r = run(MONDAY_10, "1")
    assert route_of(r) == ("queue", "enquiries")
    assert r["branch"] == "enquiries"
    assert r["priority"] == 1
    assert r["prompts"] == [["welcome"]]
    assert r["at"] == MONDAY_10
    assert r["trace"][:2] == ["menu main: start", "menu main: key 1 -> route:enquiries"]
    assert any("open: workday window 09:30-11:30" in t for t in r["trace"])
    assert r["trace"][-1] == "route: queue enquiries"


def test_closed_sunday_key_1_offers_a_callback(run: Any) -> None:
    r = run(SUNDAY_10, "1")
    assert route_of(r) == ("callback", "+86" + CALLER)  # the caller's number in E.164
    assert any("closed: outside opening hours (weekend)" in t for t in r["trace"])


def test_sunday_night_key_0_is_an_emergency(run: Any) -> None:
    r = run(SUNDAY_03, "0")
    assert route_of(r) == ("emergency", "emergency")
    assert r["priority"] == 10
    assert "on call: zhao, li; free: zhao, li" in r["trace"]
    assert r["overflow"] == "voicemail"


def test_vip_key_2_gets_the_boost(run: Any) -> None:
    r = run(MONDAY_10, "2", "+8613800000001")
    assert route_of(r) == ("queue", "complaints")
    assert r["vip"] is True
    assert r["priority"] == 2 + 5
    assert "VIP caller: priority 2 + 5 = 7" in r["trace"]


def test_key_9_requests_a_callback_to_the_caller(run: Any) -> None:
    r = run(MONDAY_10, "9", "+86 139-1234-5678")
    assert route_of(r) == ("callback", "+8613912345678")
    assert r["caller"] == "+8613912345678"
    assert "caller chose callback" in r["trace"]


def test_three_invalid_keys_in_open_hours_reach_the_operator(run: Any) -> None:
    r = run(MONDAY_10, "777")
    assert route_of(r) == ("queue", "operator")
    assert r["prompts"] == [["welcome"], ["invalid", "menu_short"], ["invalid", "menu_short"]]
    assert "menu main: invalid 7 -> 3 failed attempts: operator" in r["trace"]


def test_three_invalid_keys_when_closed_reach_voicemail(run: Any) -> None:
    r = run(SUNDAY_10, "777")
    assert route_of(r) == ("voicemail", "hotline")


def test_no_keys_times_out_to_the_operator(run: Any) -> None:
    # two silences (menu.yaml max_timeouts) and the caller is with a person
    r = run(MONDAY_10, "")
    assert route_of(r) == ("queue", "operator")
    assert r["prompts"] == [["welcome"], ["timeout", "menu_short"]]
    assert "menu main: timeout -> 2 silences: operator" in r["trace"]


def test_explicit_timeouts_then_a_key(run: Any) -> None:
    r = run(MONDAY_10, "T1")
    assert route_of(r) == ("queue", "enquiries")
    assert r["prompts"][-1] == ["timeout", "menu_short"]


def test_star_repeats_then_key_1(run: Any) -> None:
    r = run(MONDAY_10, "*1")
    assert route_of(r) == ("queue", "enquiries")
    assert r["prompts"] == [["welcome"], ["welcome"]]
    assert "menu main: repeat *" in r["trace"]


def test_language_key_switches_to_english(run: Any) -> None:
    r = run(MONDAY_10, "81")
    assert route_of(r) == ("queue", "enquiries")
    assert r["language"] == "en"


def test_previous_agent_takes_the_repeat_caller(run: Any) -> None:
    r = run(MONDAY_10, "1", CALLER, "--previous-agent", "chen")
    assert route_of(r) == ("seat", "PJSIP/seat2")
    assert r["queue"] == "enquiries"


def test_an_unknown_previous_agent_exits_2_naming_the_argument(
    clean_env: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """A typo ("chne") used to simulate an agent never on duty, with exit 0."""
    argv = ["simulate", "--config", "config", "--at", MONDAY_10, "--caller", CALLER]
    assert main([*argv, "--keys", "1", "--previous-agent", "chne"]) == 2
    err = capsys.readouterr().err
    assert "--previous-agent" in err and "no agent 'chne' in seats.yaml" in err


def test_local_time_without_offset_is_in_the_site_time_zone(run: Any) -> None:
    # 10:00 with no offset means 10:00 Shanghai (open), not 10:00 UTC (18:00, closed).
    r = run("2026-11-23T10:00", "1")
    assert route_of(r) == ("queue", "enquiries")
    assert r["at"] == MONDAY_10


def test_hotline_now_pins_the_instant(run: Any, clean_env: pytest.MonkeyPatch) -> None:
    clean_env.setenv("HOTLINE_NOW", SUNDAY_03)
    r = run(None, "0")
    assert r["at"] == SUNDAY_03
    assert "on call: zhao, li; free: zhao, li" in r["trace"]


def test_plain_output_names_the_route_and_trace(
    clean_env: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    argv = ["simulate", "--config", "config", "--at", MONDAY_10, "--keys", "1"]
    assert main(argv) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0] == "queue enquiries"
    assert "  route: queue enquiries" in lines


def test_bad_instant_is_an_error(
    clean_env: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["simulate", "--config", "config", "--at", "next tuesday", "--json"]) == 2
    assert "error:" in capsys.readouterr().err


def test_simulate_function_matches_the_cli(sample_config: HotlineConfig) -> None:
    at = datetime(2026, 10, 10, 10, tzinfo=SHANGHAI)  # the make-up Saturday
    r = simulate(sample_config, at, CALLER, "3")
    assert (r["route"]["kind"], r["route"]["target"]) == ("queue", "repairs")
    assert any("open: makeup window 09:30-11:30" in t for t in r["trace"])


def test_anonymous_caller_choosing_callback_is_not_left_with_an_empty_callback(
    sample_config: HotlineConfig,
) -> None:
    r = simulate(sample_config, datetime(2026, 11, 23, 10, tzinfo=SHANGHAI), "", "9")
    assert (r["route"]["kind"], r["route"]["target"]) == ("voicemail", "hotline")


def test_on_failure_submenu_is_entered(tmp_path: Path) -> None:
    d = tmp_path / "config"
    shutil.copytree(SAMPLE_CONFIG_DIR, d, ignore=shutil.ignore_patterns("asterisk"))
    menu = (d / "menu.yaml").read_text(encoding="utf-8")
    menu = menu.replace(
        "    on_failure: operator",
        "    on_failure: menu:help\n"
        "  help:\n"
        "    prompt: welcome\n"
        '    options: {"1": route:enquiries}\n'
        "    on_failure: operator",
    )
    (d / "menu.yaml").write_text(menu, encoding="utf-8")
    cfg = load_config(d, env={})
    r = simulate(cfg, datetime(2026, 11, 23, 10, tzinfo=SHANGHAI), CALLER, "7771")
    assert (r["route"]["kind"], r["route"]["target"]) == ("queue", "enquiries")
