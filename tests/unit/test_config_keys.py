"""Mapping keys the configuration uses as names, where the generic fuzz of
test_config_fuzz.py does not reach: it renames one key of a shipped file at a time
and skips a name a sibling already has, and the shipped files have no key the
rules below meet. Each refusal here failed before its fix (accepted, or refused only
when Asterisk's files were rendered); the last test keeps what the fixes must not
refuse."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from config_files import edit

from ivr.config import ConfigError, load_config

MENU_KEY = '"1": route:enquiries'


@pytest.mark.parametrize(
    ("file", "old", "new"),
    [
        # 0 beside "0": the loaders read both as "0", and one option silently replaced the other
        ("menu.yaml", MENU_KEY, "0: route:enquiries"),
        # 1 beside "1" (a key written without quotes once): the same
        ("menu.yaml", MENU_KEY, f"{MENU_KEY}\n      1: route:repairs"),
    ],
)
def test_two_keys_that_are_one_name_as_text_are_refused(
    config_dir: Path, file: str, old: str, new: str
) -> None:
    edit(config_dir, file, old, new)
    with pytest.raises(ConfigError, match="duplicate key") as e:
        load_config(config_dir, env={})
    assert e.value.file == file and e.value.item.startswith("line ")


@pytest.mark.parametrize(
    ("prefix", "reason"),
    [
        ("+\uff11\uff12", "'+' and digits"),  # fullwidth: no number ever starts with it
        ("+" + "1" * 16, "longer than a number"),
    ],
)
def test_a_calling_zone_prefix_that_no_number_has_is_refused(
    config_dir: Path, prefix: str, reason: str
) -> None:
    edit(
        config_dir,
        "callbacks.yaml",
        "timezones_by_prefix: {}",
        f'timezones_by_prefix: {{"{prefix}": Asia/Tokyo}}',
    )
    with pytest.raises(ConfigError, match=re.escape(reason)) as e:
        load_config(config_dir, env={})
    assert e.value.file == "callbacks.yaml"
    assert e.value.item == f"calling_hours.timezones_by_prefix.{prefix}"


@pytest.mark.parametrize("name", ["_carrier", "-carrier"])
def test_a_trunk_name_asterisk_refuses_is_refused_by_the_config(
    config_dir: Path, name: str
) -> None:
    """Its endpoint is trunk-<name>, a NAME: before, check-config passed and rendering
    Asterisk's files failed."""
    edit(config_dir, "routing.yaml", "vip:", f"trunks:\n  {name}: {{host: 127.0.0.1}}\nvip:")
    with pytest.raises(ConfigError, match="starting with a letter or digit") as e:
        load_config(config_dir, env={})
    assert (e.value.file, e.value.item) == ("routing.yaml", f"trunks.{name}")


@pytest.mark.parametrize(
    ("file", "old", "new", "item"),
    [  # a name of 65 characters: past the bound of every other name (NAME's 64)
        ("cases.yaml", "  on_site: {", f"  {'t' * 65}: {{hours: 1}}\n  on_site: {{", "terms."),
        ("callbacks.yaml", "  reply: {", f"  {'r' * 65}: {{kind: agreed}}\n  reply: {{", "rules."),
        ("seats.yaml", "\noncall:\n", f"\nrotas:\n  {'n' * 65}: []\noncall:\n", "rotas."),
    ],
)
def test_a_name_longer_than_64_is_refused(
    config_dir: Path, file: str, old: str, new: str, item: str
) -> None:
    edit(config_dir, file, old, new)
    with pytest.raises(ConfigError, match="64") as e:
        load_config(config_dir, env={})
    assert e.value.file == file and e.value.item.startswith(item)


def test_a_rota_may_still_be_named_in_the_sites_script(config_dir: Path) -> None:
    edit(config_dir, "seats.yaml", "\noncall:\n", "\nrotas:\n  \u591c\u73ed: []\noncall:\n")
    assert "\u591c\u73ed" in load_config(config_dir, env={}).roster.rotas
