"""A misspelt or unknown key is refused, naming the file, the key's path and the
nearest known key: `oncal: true` must not quietly turn the emergency line into a
plain queue."""

from __future__ import annotations

from pathlib import Path

import pytest
from config_files import edit

from cli.main import main
from ivr.config import ConfigError, load_config


@pytest.mark.parametrize(
    ("file", "old", "new", "item", "hint"),
    [
        ("routing.yaml", "oncall: true}", "oncal: true}", "branches.emergency.oncal", "oncall"),
        ("routing.yaml", "priority: 10, ", "priority: 10, hours: 09:00-17:00, ",
         "branches.emergency.hours", ""),
        ("calendar.yaml", "name: New Year's Day}",
         "name: New Year's Day, open_branch: [repairs]}", "holidays[0].open_branch",
         "open_branches"),
        ("hotline.yaml", "site:", "sitee: {}\nsite:", "sitee", "site"),
        ("routing.yaml", "vip:", "vipp: {}\nvip:", "vipp", "vip"),
        ("callbacks.yaml", "calling_hours:", "calling_hour: {}\ncalling_hours:", "calling_hour",
         "calling_hours"),
    ],
)  # fmt: skip
def test_an_unknown_key_is_refused_naming_file_item_and_suggestion(
    config_dir: Path, file: str, old: str, new: str, item: str, hint: str
) -> None:
    edit(config_dir, file, old, new)
    with pytest.raises(ConfigError) as err:
        load_config(config_dir, env={})
    assert (err.value.file, err.value.item) == (file, item)
    assert "unknown key" in err.value.reason
    if hint:
        assert f"did you mean {hint!r}" in err.value.reason


def test_check_config_exits_2_with_the_suggestion(
    config_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    edit(config_dir, "routing.yaml", "oncall: true}", "oncal: true}")
    assert main(["check-config", "--config", str(config_dir)]) == 2
    err = capsys.readouterr().err
    assert "routing.yaml" in err and "branches.emergency.oncal" in err
    assert "did you mean 'oncall'?" in err


def test_the_database_key_is_known_when_the_environment_overrides_it(config_dir: Path) -> None:
    cfg = load_config(config_dir, env={"HOTLINE_DATABASE_URL": "sqlite:////tmp/x.db"})
    assert cfg.database_url == "sqlite:////tmp/x.db"
