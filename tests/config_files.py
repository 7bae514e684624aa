"""Copies of the sample configuration for tests that change one file of it."""

from __future__ import annotations

import shutil
from pathlib import Path

SAMPLE_CONFIG_DIR = Path(__file__).resolve().parents[1] / "config"


def copy_sample(dest: Path) -> Path:
    """The sample config directory copied to `dest` (the Asterisk templates and the
    example hotlines left out)."""
    shutil.copytree(SAMPLE_CONFIG_DIR, dest, ignore=shutil.ignore_patterns("asterisk", "examples"))
    return dest


def edit(directory: Path, file: str, old: str, new: str) -> Path:
    """Replace `old` (which must be there, once) by `new` in one config file."""
    path = directory / file
    text = path.read_text(encoding="utf-8")
    assert text.count(old) == 1, f"{old!r} not found exactly once in {file}"
    path.write_text(text.replace(old, new), encoding="utf-8")
    return directory
