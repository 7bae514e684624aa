"""Caller names and numbers as Asterisk hands them over (AGI environment, AMI events):
SIP's quoted-string escapes undone, Asterisk's placeholders blank, and nothing
in them that could break a protocol line or make a call-log row read as another."""

from __future__ import annotations

import unicodedata
from datetime import UTC, datetime

import pytest
from hypothesis import given
from hypothesis import strategies as st

from ivr.adapters.asterisk import ami, names
from ivr.adapters.asterisk.agi import caller_name, parse_env, sanitise
from ivr.adapters.asterisk.handlers import caller_from_env
from ivr.domain.calllog import CallStarted

BIDI = "\u061c\u200e\u200f\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069"
AT = datetime(2026, 12, 7, 2, 0, tzinfo=UTC)


def unsafe(text: str) -> list[str]:
    return [c for c in text if unicodedata.category(c) in ("Cc", "Cs") or c in BIDI]


def sip_escaped(name: str) -> str:
    """A display name as a SIP quoted-string's body (RFC 3261 quoted-pair)."""
    return name.replace("\\", "\\\\").replace('"', '\\"')


@given(st.text())
def test_sanitise_leaves_no_control_surrogate_or_bidi_character(text: str) -> None:
    out = sanitise(text)
    assert not unsafe(out)
    assert "\r" not in out and "\n" not in out


@given(st.text(alphabet=st.characters(blacklist_categories=("Cc", "Cs", "Zl", "Zp"))))
def test_a_sip_escaped_display_name_reads_back_as_the_name(name: str) -> None:
    name = "".join(c for c in name if c not in BIDI).strip()
    expected = "" if name in ("unknown", "<unknown>") else name
    assert caller_name(sip_escaped(name)) == expected


@pytest.mark.parametrize(
    ("raw", "name"),
    [
        ("unknown", ""),
        ("<unknown>", ""),
        ("  unknown ", ""),
        ("Unknown", "Unknown"),
        ('\\"VIP\\" Wang', '"VIP" Wang'),
        ("C:\\\\temp", "C:\\temp"),
        ("trailing\\", "trailing\\"),  # a lone backslash is not an escape
        ("\u202eevil\u202c name", "evil name"),
        ("tab\tand\x85next", "tab and next"),
        ("Bob\udcff", "Bob\ufffd"),
    ],
)
def test_caller_name(raw: str, name: str) -> None:
    assert caller_name(raw) == name


def test_the_fastagi_environment_gives_the_name_unescaped_and_clean() -> None:
    env = parse_env(
        "agi_uniqueid: 1.1\n"
        "agi_callerid: 13800000001\n"
        'agi_calleridname: \\"Boss\\" \u202eWang\n'
        "agi_channel: PJSIP/anonymous-00000001\n"
        "agi_extension: 4000\n\n"
    )
    caller = caller_from_env(env, "fastagi", "CN")
    assert caller.name == '"Boss" Wang'
    assert caller.number == "+8613800000001"
    assert caller_from_env({"agi_calleridname": "unknown"}, "fastagi", "CN").name == ""


def test_an_ami_hangup_record_gives_the_name_unescaped_and_clean() -> None:
    keys = {
        "Event": "Hangup",
        "Uniqueid": "9.1",
        "Linkedid": "9.1",
        "Context": names.CONTEXT_INBOUND,
        "AccountCode": names.ACCOUNTCODE_INBOUND,
        "Exten": "4000",
        "Channel": "PJSIP/anonymous-0000000\u202e9",
        "CallerIDNum": "138\u202e00000001",
        "CallerIDName": 'A \\"quoted\\" \\\\ name\x01',
        "Cause": "16",
    }
    events = ami.translate("Hangup", keys, AT)
    started = [e for e in events if isinstance(e, CallStarted)]
    assert started, events
    assert started[0].caller_name == 'A "quoted" \\ name'
    assert not unsafe(started[0].caller) and not unsafe(started[0].channel)
