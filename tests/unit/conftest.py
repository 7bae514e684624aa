"""Shared fixtures for the pure unit tests: the sample configuration, loaded once.

Every test passes its instant explicitly; nothing here reads a clock.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from config_files import copy_sample

from ivr.config import HotlineConfig, load_config

REPO_ROOT = Path(__file__).resolve().parents[2]
SAMPLE_CONFIG_DIR = REPO_ROOT / "config"

# Environment variables the CLI reads; a developer's shell must not leak into tests.
HOTLINE_ENV = (
    "HOTLINE_CONFIG",
    "HOTLINE_NOW",
    "HOTLINE_DATABASE_URL",
    "HOTLINE_DATA_DIR",
)


@pytest.fixture(scope="session")
def sample_config() -> HotlineConfig:
    """config/*.yaml as shipped (frozen objects, safe to share between tests)."""
    return load_config(SAMPLE_CONFIG_DIR, env={})


@pytest.fixture
def config_dir(tmp_path: Path) -> Path:
    """A copy of the sample config directory, for a test to change."""
    return copy_sample(tmp_path / "config")


@pytest.fixture
def clean_env(monkeypatch: pytest.MonkeyPatch) -> pytest.MonkeyPatch:
    """No HOTLINE_* variables, and the repository root as working directory."""
    for name in HOTLINE_ENV:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.chdir(REPO_ROOT)
    return monkeypatch
