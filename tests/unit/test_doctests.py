"""The examples in docstrings (real AGI/AMI lines, parsers) are tests too."""

import doctest
import importlib

import pytest

MODULES = [
    "ivr.domain.calendar",
    "ivr.domain.callbacks",
    "ivr.domain.calllog",
    "ivr.domain.privacy",
    "ivr.domain.menu",
    "ivr.domain.routing",
    "ivr.adapters.asterisk.agi",
    "ivr.adapters.asterisk.ami",
    "ivr.adapters.asterisk.ami_packs",
    "web.security",
    "web.store",
    "ivr.domain.metrics",
    "web.callbacks",
    "web.charts",
    "ivr.adapters.asterisk.agi_channel",
    "ivr.adapters.asterisk.fastagi_limits",
    "ivr.phone",
    "ivr.domain.cases",
    "ivr.domain.speech",
    "ivr.adapters.speech.audiosocket",
    "ivr.adapters.speech.client",
    "ivr.adapters.speech.service",
    "lab.sandbox",
    "ivr.domain.text",
    "ivr.config.errors",
]


@pytest.mark.parametrize("name", MODULES)
def test_docstring_examples(name: str) -> None:
    result = doctest.testmod(importlib.import_module(name))
    assert result.attempted > 0, f"{name} has no examples"
    assert result.failed == 0
