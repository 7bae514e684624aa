"""`hotline config explain --at ISO`: who is on duty and where every menu key goes at
that instant, on the sample: a weekday morning, a weekend night, a holiday."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from config_files import edit

from cli.main import main

SAMPLE = str(Path(__file__).resolve().parents[2] / "config")
MONDAY_10 = "2026-11-23T10:00:00+08:00"  # open, every seat on shift
SUNDAY_23 = "2026-11-22T23:00:00+08:00"  # closed: the night on-call rota
NATIONAL_DAY_10 = "2026-10-02T10:00:00+08:00"  # a Friday, but a holiday: closed all day
MAKEUP_SATURDAY_10 = "2026-10-10T10:00:00+08:00"  # worked as a Friday


@pytest.fixture
def explain(clean_env: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> Any:
    def run(at: str, *extra: str, config: str = SAMPLE) -> dict[str, Any]:
        assert main(["config", "explain", "--config", config, "--at", at, "--json", *extra]) == 0
        out = capsys.readouterr()
        assert out.err == ""
        result: dict[str, Any] = json.loads(out.out)
        return result

    return run


def goes(result: dict[str, Any], language: str, node: str = "main") -> dict[str, str]:
    return {r["key"]: r["goes"] for r in result["menu"][language] if r["node"] == node}


def ids(people: list[dict[str, Any]]) -> list[str]:
    return [p["agent"] for p in people]


def test_a_weekday_morning_queues_every_branch(explain: Any) -> None:
    r = explain(MONDAY_10)
    assert r["open"] is True and r["hours"] == "open: workday window 09:30-11:30"
    assert ids(r["on_duty"]) == ["lead", "chen", "li", "zhang", "liu"]  # zhao starts at 13:00
    assert ids(r["on_call"]) == ["liu", "zhang"]
    assert {b["branch"]: b["reach"] for b in r["branches"]} == dict.fromkeys(
        ["enquiries", "complaints", "repairs", "emergency"], "person"
    )
    expected = {
        "1": "queue enquiries (priority 1, then callback)",
        "2": "queue complaints (priority 2, then callback)",
        "3": "queue repairs (priority 3, then callback)",
        "0": "emergency emergency (priority 10, then voicemail)",
        "9": "callback the caller's number",
        "8": "the same menu in en",
        "*": "menu main again",
        "none": "queue operator (priority 3, then callback)",
    }
    assert set(r["menu"]) == {"zh-CN", "en"}
    assert goes(r, "zh-CN") == expected and goes(r, "en") == expected
    row = next(x for x in r["menu"]["en"] if x["key"] == "1")
    assert row["target"] == "route:enquiries" and row["branch"] == "enquiries"
    assert "skill 'enquiries': 4 on duty, free: lead, chen, li, liu" in row["why"]


def test_a_weekend_night_has_the_on_call_rota_and_callbacks(explain: Any) -> None:
    r = explain(SUNDAY_23)
    assert r["open"] is False and r["hours"] == "closed: outside opening hours (weekend)"
    assert r["on_duty"] == [] and ids(r["on_call"]) == ["zhao", "li"]
    reach = {b["branch"]: b["reach"] for b in r["branches"]}
    assert reach == {
        "enquiries": "callback", "complaints": "callback", "repairs": "callback",
        "emergency": "person",
    }  # fmt: skip
    g = goes(r, "zh-CN")
    assert g["1"] == g["2"] == g["3"] == "callback the caller's number"
    assert g["0"] == "emergency emergency (priority 10, then voicemail)"
    assert g["none"] == "voicemail hotline"  # the operator, with nobody on seat duty
    why = next(x for x in r["menu"]["zh-CN"] if x["key"] == "0")["why"]
    assert "on call: zhao, li; free: zhao, li" in why


def test_a_holiday_is_closed_and_says_which(explain: Any) -> None:
    r = explain(NATIONAL_DAY_10)
    assert r["day"] == "holiday" and r["hours"] == "closed: holiday (National Day)"
    assert r["on_duty"] == [] and ids(r["on_call"]) == ["liu", "zhang"]
    g = goes(r, "en")
    assert g["2"] == "callback the caller's number"
    assert g["0"] == "emergency emergency (priority 10, then voicemail)"
    why = next(x for x in r["menu"]["en"] if x["key"] == "2")["why"]
    assert any("closed: holiday (National Day)" in w for w in why)


def test_the_make_up_saturday_is_open(explain: Any) -> None:
    r = explain(MAKEUP_SATURDAY_10)
    assert r["open"] is True and r["day"] == "makeup"
    assert goes(r, "zh-CN")["3"] == "queue repairs (priority 3, then callback)"


def test_a_vip_caller_is_explained_with_the_boost(explain: Any) -> None:
    r = explain(SUNDAY_23, "--caller", "+8613800000001")  # on the VIP list
    row = next(x for x in r["menu"]["zh-CN"] if x["key"] == "0")
    assert row["goes"] == "emergency emergency (priority 15, then voicemail)"


def test_every_node_reached_is_explained(explain: Any, config_dir: Path) -> None:
    edit(config_dir, "menu.yaml", '"9": callback', '"9": callback\n      "7": menu:more')
    edit(
        config_dir,
        "menu.yaml",
        "    on_failure: operator",
        "    on_failure: operator\n"
        "  more:\n"
        "    prompt: welcome\n"
        '    options: {"1": route:repairs, "2": voicemail, "3": menu:main}\n'
        "    on_failure: hangup",
    )
    r = explain(MONDAY_10, config=str(config_dir))
    assert goes(r, "en")["7"] == "menu more"
    assert goes(r, "en", "more") == {
        "1": "queue repairs (priority 3, then callback)",
        "2": "voicemail hotline",
        "3": "menu main",
        "none": "hangup",
    }


def test_text_output(clean_env: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["config", "explain", "--config", SAMPLE, "--at", SUNDAY_23]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0] == (
        "2026-11-22 23:00 CST (Asia/Shanghai): closed: outside opening hours (weekend)"
    )
    assert "on duty: nobody" in lines
    assert "branch enquiries (skill enquiries, priority 1): closed: callback" in lines
    assert "  main key 0 -> route:emergency: emergency emergency (priority 10, then voicemail)" in (
        lines
    )


def test_hotline_now_is_the_default_instant(
    clean_env: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    clean_env.setenv("HOTLINE_NOW", SUNDAY_23)
    assert main(["config", "--config", SAMPLE, "explain", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["at"] == SUNDAY_23


@pytest.mark.parametrize(
    ("argv", "said"),
    [
        (["--at", "tomorrow"], "not an ISO 8601 instant"),
        (["--at", MONDAY_10, "--caller", "abc"], "--caller"),
        (["--config", "/nonexistent", "--at", MONDAY_10], "config directory not found"),
    ],
)
def test_bad_input_exits_2_naming_it(
    clean_env: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], argv: list[str], said: str
) -> None:
    argv = argv if "--config" in argv else ["--config", SAMPLE, *argv]
    assert main(["config", "explain", *argv]) == 2
    err = capsys.readouterr().err
    assert said in err and "Traceback" not in err


def test_config_without_a_subcommand_exits_2(
    clean_env: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["config"]) == 2
    assert "SUBCOMMAND" in capsys.readouterr().err
