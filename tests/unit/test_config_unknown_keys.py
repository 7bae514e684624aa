"""A misspelt or unknown key is refused, naming the file, the key's path and the
nearest known key: `oncal: true` must not quietly turn the emergency line into a
plain queue."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from cli.main import main
from ivr.config import ConfigError, load_config

SAMPLE = Path(__file__).resolve().parents[2] / "config"


@pytest.fixture
def cfg_dir(tmp_path: Path) -> Path:
    d = tmp_path / "config"
    shutil.copytree(SAMPLE, d, ignore=shutil.ignore_patterns("asterisk"))
    return d


def edit(d: Path, name: str, old: str, new: str) -> None:
    text = (d / name).read_text(encoding="utf-8")
    assert old in text
    (d / name).write_text(text.replace(old, new, 1), encoding="utf-8")


@pytest.mark.parametrize(
    ("file", "old", "new", "item", "hint"),
    [
        ("routing.yaml", "oncall: true}", "oncal: true}", "branches.emergency.oncal", "oncall"),
        ("routing.yaml", "priority: 10, ", "priority: 10, hours: 09:00-17:00, ",
         "branches.emergency.hours", ""),
        ("calendar.yaml", "name: New Year's Day}",
         "name: New Year's Day, open_branches: [repairs]}", "holidays[0].open_branches", ""),
        ("hotline.yaml", "site:", "sitee: {}\nsite:", "sitee", "site"),
        ("routing.yaml", "vip:", "vipp: {}\nvip:", "vipp", "vip"),
        ("callbacks.yaml", "calling_hours:", "calling_hour: {}\ncalling_hours:", "calling_hour",
         "calling_hours"),
    ],
)  # fmt: skip
def test_an_unknown_key_is_refused_naming_file_item_and_suggestion(
    cfg_dir: Path, file: str, old: str, new: str, item: str, hint: str
) -> None:
    edit(cfg_dir, file, old, new)
    with pytest.raises(ConfigError) as err:
        load_config(cfg_dir, env={})
    assert (err.value.file, err.value.item) == (file, item)
    assert "unknown key" in err.value.reason
    if hint:
        assert f"did you mean {hint!r}" in err.value.reason


def test_check_config_exits_2_with_the_suggestion(
    cfg_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    edit(cfg_dir, "routing.yaml", "oncall: true}", "oncal: true}")
    assert main(["check-config", "--config", str(cfg_dir)]) == 2
    err = capsys.readouterr().err
    assert "routing.yaml" in err and "branches.emergency.oncal" in err
    assert "did you mean 'oncall'?" in err


def test_the_database_key_is_known_when_the_environment_overrides_it(cfg_dir: Path) -> None:
    cfg = load_config(cfg_dir, env={"HOTLINE_DATABASE_URL": "sqlite:////tmp/x.db"})
    assert cfg.database_url == "sqlite:////tmp/x.db"
