"""A callback's matter is `<rule>:<reference>` or a plain matter: whichever door it
comes in by (the command line, a case, a visitor's check-out, callbacks.yaml), a
colon with nothing on one side names no rule or no reference and is refused."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import pytest
from callback_ledger import RecordingLedger
from config_files import edit

from cli.main import main
from ivr.app.callbacks import CallbackIntake
from ivr.config import ConfigError, HotlineConfig, load_config
from ivr.domain.callbacks import MatterError, callback_matter

EMPTY_SIDES = [":", "::", "complaint:", ":202611-0001", " : ", "complaint: ", "  :x", "\u3000:x"]
SPACED = ["complaint :x", " complaint:x", "complaint:x ", " cli", "cli "]
GOOD = ["cli", "complaint:202611-0001", "contract:202612-0003/2027-01-10", "visitor:a:b"]


@pytest.mark.parametrize("matter", [*EMPTY_SIDES, *SPACED, "", "   "])
def test_the_domain_refuses_a_matter_with_nothing_or_spaces_on_a_side(matter: str) -> None:
    with pytest.raises(MatterError):
        callback_matter(matter)


@pytest.mark.parametrize("matter", GOOD)
def test_the_domain_takes_a_rule_and_a_reference(matter: str) -> None:
    assert callback_matter(matter) == matter


@pytest.mark.parametrize("matter", [*EMPTY_SIDES, *SPACED])
def test_the_intake_refuses_it_whoever_asks(sample_config: HotlineConfig, matter: str) -> None:
    s = sample_config.callbacks
    ledger = RecordingLedger()
    intake = CallbackIntake(
        ledger, s.calling_rules(), s.retry, s.rules, s.intake.matter,
        lambda: datetime(2026, 11, 23, 2, 0, tzinfo=UTC),
    )  # fmt: skip
    with pytest.raises(ValueError, match="^matter: "):
        intake.request("13800000001", matter)
    assert ledger.added == []
    assert intake.request("13800000001", "complaint:202611-0001").created


@pytest.mark.parametrize("matter", [*EMPTY_SIDES, *SPACED])
def test_the_command_line_refuses_it_naming_matter_and_stores_nothing(
    matter: str,
    tmp_path: Path,
    clean_env: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    clean_env.setenv("HOTLINE_DATA_DIR", str(tmp_path))
    clean_env.setenv("HOTLINE_NOW", "2026-11-23T10:00:00+08:00")
    assert main(["callbacks", "add", "--number", "13800000001", "--matter", matter]) == 2
    err = capsys.readouterr().err
    assert "argument --matter" in err and "Traceback" not in err
    assert main(["callbacks", "list", "--json"]) == 0
    assert json.loads(capsys.readouterr().out) == []


@pytest.mark.parametrize("matter", ['" ivr"', '"ivr "'])
def test_callbacks_yaml_refuses_an_intake_matter_with_spaces_at_its_ends(
    config_dir: Path, matter: str
) -> None:
    edit(config_dir, "callbacks.yaml", "  matter: ivr ", f"  matter: {matter} ")
    with pytest.raises(ConfigError) as e:
        load_config(config_dir, env={})
    assert e.value.file == "callbacks.yaml" and e.value.item == "intake.matter"
