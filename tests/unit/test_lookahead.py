"""check-config looks ahead (issue 10): where a branch's route reaches no person
over the coming weeks, holidays and make-up days included."""

from __future__ import annotations

from datetime import datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from config_files import SAMPLE_CONFIG_DIR, edit

from cli.main import main
from ivr.config import load_config
from ivr.domain.lookahead import coverage_gaps

SH = ZoneInfo("Asia/Shanghai")
MONDAY = datetime(2026, 11, 30, tzinfo=SH)
NATIONAL_DAY_WEEKS = datetime(2026, 9, 28, tzinfo=SH)  # holidays 1-7 Oct, make-up Sat 10 Oct


def only_zhao_repairs(config_dir: Path) -> Path:
    """Repairs left to zhao alone, who works Mon-Fri 13:00-17:00."""
    for old, new in [
        ("skills: [enquiries, complaints, repairs]", "skills: [enquiries, complaints]"),
        ("skills: [enquiries, repairs]\n", "skills: [enquiries]\n"),
        ("skills: [complaints, repairs]", "skills: [complaints]"),
        ("skills: [enquiries, repairs, emergency]", "skills: [enquiries, emergency]"),
    ]:
        edit(config_dir, "seats.yaml", old, new)
    return config_dir


@pytest.mark.parametrize("start", [MONDAY, NATIONAL_DAY_WEEKS])
def test_the_sample_reaches_a_person_on_every_branch(start: datetime) -> None:
    cfg = load_config(SAMPLE_CONFIG_DIR)
    assert coverage_gaps(cfg.roster, cfg.policy, start, 24 * 7 * 3) == []


def test_an_open_morning_without_the_skill_is_a_gap(config_dir: Path) -> None:
    cfg = load_config(only_zhao_repairs(config_dir))
    gaps = coverage_gaps(cfg.roster, cfg.policy, MONDAY, 24 * 7)
    assert {g.branch for g in gaps} == {"repairs"}
    mornings = [(g.start.astimezone(SH), g.end.astimezone(SH)) for g in gaps]
    days = [MONDAY + timedelta(days=d) for d in range(5)]
    assert mornings == [(d.replace(hour=9, minute=30), d.replace(hour=11, minute=30)) for d in days]
    assert "skill 'repairs'" in gaps[0].reason


def test_holidays_are_closed_and_the_make_up_day_is_open(config_dir: Path) -> None:
    cfg = load_config(only_zhao_repairs(config_dir))
    gaps = coverage_gaps(cfg.roster, cfg.policy, NATIONAL_DAY_WEEKS, 24 * 19)
    days = sorted({g.start.astimezone(SH).date().isoformat() for g in gaps})
    # Mon 28 and Tue 29 Sep, then no gap over the holiday week (closed on purpose);
    # the make-up Saturday 10 Oct is open and zhao does not work it; then 12-16 Oct.
    assert days[:2] == ["2026-09-28", "2026-09-29"]
    assert not any("2026-10-01" <= d <= "2026-10-07" for d in days)
    assert "2026-10-10" in days
    assert days[-5:] == ["2026-10-12", "2026-10-13", "2026-10-14", "2026-10-15", "2026-10-16"]


def test_a_night_without_the_on_call_rota_is_an_emergency_gap(config_dir: Path) -> None:
    edit(config_dir, "seats.yaml", '  - {agent: zhao, days: all, hours: ["20:00-08:00"]}\n', "")
    edit(config_dir, "seats.yaml", '  - {agent: li, days: all, hours: ["20:00-08:00"]}\n', "")
    cfg = load_config(config_dir)
    gaps = coverage_gaps(cfg.roster, cfg.policy, MONDAY, 48)
    assert {g.branch for g in gaps} == {"emergency"}
    first = gaps[0]
    assert first.start.astimezone(SH) == MONDAY  # midnight to 08:00
    assert first.end.astimezone(SH) == MONDAY + timedelta(hours=8)
    assert gaps[1].start.astimezone(SH) == MONDAY + timedelta(hours=20)
    assert "on-call rota" in first.reason


def test_check_config_warns_of_each_uncovered_branch(
    config_dir: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("HOTLINE_NOW", "2026-12-02T10:00:00+08:00")
    assert (
        main(["check-config", "--config", str(only_zhao_repairs(config_dir)), "--weeks", "2"]) == 0
    )
    out = capsys.readouterr().out
    assert "warning: branch repairs: no person in 10 span(s) of 2026-11-30 + 2 week(s)" in out
    assert "first Mon 2026-11-30 09:30 to Mon 11:30" in out


def test_check_config_says_when_all_is_covered(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("HOTLINE_NOW", "2026-12-02T10:00:00+08:00")
    assert main(["check-config", "--config", str(SAMPLE_CONFIG_DIR)]) == 0
    assert "look-ahead 2026-11-30 + 8 week(s): staffing and every branch's route covered" in (
        capsys.readouterr().out
    )


@pytest.mark.parametrize("weeks", ["0", "105", "-1", "many", "1e3"])
def test_a_bad_look_ahead_exits_2_naming_it(weeks: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["check-config", "--config", str(SAMPLE_CONFIG_DIR), "--weeks", weeks]) == 2
    assert "argument --weeks" in capsys.readouterr().err
