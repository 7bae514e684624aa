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
from ivr.adapters.asterisk.agi import MAX_CALLER_NAME, caller_name, parse_env, sanitise
from ivr.adapters.asterisk.handlers import caller_from_env
from ivr.domain.calllog import CallStarted
from ivr.domain.text import REFUSED_CATEGORIES, bad_character

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


@given(
    st.text(
        alphabet=st.characters(blacklist_categories=("Cc", "Cf", "Cs", "Co", "Cn", "Zl", "Zp")),
        max_size=MAX_CALLER_NAME,
    )
)
def test_a_sip_escaped_display_name_reads_back_as_the_name(name: str) -> None:
    name = name.strip()
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


def _hangup_started(channel: str, number: str, name: str) -> list[CallStarted]:
    """The CallStarted an inbound call's AMI Hangup (its only record) makes."""
    keys = {
        "Event": "Hangup",
        "Uniqueid": "9.1",
        "Linkedid": "9.1",
        "Context": names.CONTEXT_INBOUND,
        "AccountCode": names.ACCOUNTCODE_INBOUND,
        "Exten": "4000",
        "Channel": channel,
        "CallerIDNum": number,
        "CallerIDName": name,
        "Cause": "16",
    }
    return [e for e in ami.translate("Hangup", keys, AT) if isinstance(e, CallStarted)]


def test_an_ami_hangup_record_gives_the_name_unescaped_and_clean() -> None:
    started = _hangup_started(
        "PJSIP/anonymous-0000000\u202e9", "138\u202e00000001", 'A \\"quoted\\" \\\\ name\x01'
    )
    assert started
    assert started[0].caller_name == 'A "quoted" \\ name'
    assert not unsafe(started[0].caller) and not unsafe(started[0].channel)


# --- what a caller's name may hold, by class of character ---------------------------
#
# For the call log, the board and AMI/AGI commands: letters of any script, marks,
# digits, punctuation, symbols (emoji) and spaces (U+3000 too), at most MAX_CALLER_NAME.
# Nothing of the one text rule's refused categories (ivr.domain.text): line breaks of any
# kind become spaces, invisible format characters are dropped, and what cannot be shown
# as itself becomes U+FFFD.

LINE_BREAKS = ["\r", "\n", "\x0b", "\x0c", "\x1c", "\x1d", "\x1e", "\x85", "\u2028", "\u2029"]
CONTROLS = ["\x00", "\x07", "\x1b", "\x7f", "\x9b"]
FORMAT = [
    *BIDI,  # embeddings, overrides, isolates, marks (U+202A-U+202E, U+2066-U+2069...)
    "\u200b", "\u200c", "\u200d", "\u2060", "\ufeff",  # zero-width space, joiners, BOM
    "\u00ad", "\u180e", "\u206a", "\U000e0001", "\U000e0041",  # soft hyphen, tags
]  # fmt: skip
NOT_SHOWN = ["\ud800", "\udcff", "\ue000", "\U000f0000", "\ufffe", "\uffff", "\U0010ffff"]


def refused(text: str) -> list[str]:
    return [c for c in text if unicodedata.category(c) in REFUSED_CATEGORIES]


@given(st.text())
def test_sanitise_leaves_nothing_the_text_rule_refuses(text: str) -> None:
    out = sanitise(text)
    assert not refused(out) and bad_character(out) is None
    assert len(out.splitlines()) <= 1  # no line break of any kind


@pytest.mark.parametrize("ch", [*LINE_BREAKS, *CONTROLS])
def test_a_line_break_or_control_character_becomes_a_space(ch: str) -> None:
    assert sanitise(f"Wang{ch}Wei") == "Wang Wei"
    assert caller_name(f"Wang{ch}Wei{ch}") == "Wang Wei"


@pytest.mark.parametrize("ch", FORMAT)
def test_a_format_character_is_dropped(ch: str) -> None:
    assert sanitise(f"Wang{ch}Wei") == "WangWei"


@pytest.mark.parametrize("ch", NOT_SHOWN)
def test_what_cannot_be_shown_as_itself_becomes_the_replacement_character(ch: str) -> None:
    assert sanitise(f"Wang{ch}Wei") == "Wang\ufffdWei"


@pytest.mark.parametrize(
    "name",
    [
        "张伟",
        "Zhang\u3000Wei",
        "José Müller",
        "Ñoño 😀",
        "e\u0301",
        "O'Brien & Sons (VIP)",
        "Αλέξης",
    ],
)
def test_a_name_of_any_script_is_kept(name: str) -> None:
    assert sanitise(name) == name and caller_name(name) == name


def test_a_caller_name_is_cut_to_its_bound() -> None:
    assert caller_name("x" * 8000) == "x" * MAX_CALLER_NAME
    assert caller_name("a" * (MAX_CALLER_NAME - 1) + " b") == "a" * (MAX_CALLER_NAME - 1)


@pytest.mark.parametrize("ch", ["\u2028", "\u2029", "\x85", "\x0b", "\u202e", "\u200b", "\ue000"])
def test_the_fastagi_and_ami_names_hold_no_such_character(ch: str) -> None:
    env = {"agi_calleridname": f"Boss{ch}Wang", "agi_callerid": "13800000001"}
    assert not refused(caller_from_env(env, "fastagi", "CN").name)
    started = _hangup_started(f"PJSIP/anonymous-0000000{ch}9", "13800000001", f"Boss{ch}Wang")
    assert started and not refused(started[0].caller_name) and not refused(started[0].channel)
