"""The TwiML verbs, nouns and attributes Twilio documents (TwiML Voice reference:
twilio.com/docs/voice/twiml/{gather,say,dial,number,sip,record,hangup}), as data, and a
check of a document against them: every element known and where it may be, every
attribute documented for it, every value of the documented form."""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from collections.abc import Callable

_URL = re.compile(r"https?://[^\s<>\"]+")
_POSITIVE = re.compile(r"[1-9][0-9]*")
_BOOL = {"true", "false"}
_METHOD = {"GET", "POST"}
_E164 = re.compile(r"\+[1-9][0-9]{6,14}")
_SIP = re.compile(r"sips?:[^\s@]+@[A-Za-z0-9.-]+(:[0-9]+)?(;[^\s]*)?")
_TAG = re.compile(r"[A-Za-z]{2,3}(-[A-Za-z0-9]{1,8}){0,3}")

Check = Callable[[str], bool]


def _in(values: set[str]) -> Check:
    return lambda v: v in values


def _match(pattern: re.Pattern[str]) -> Check:
    return lambda v: bool(pattern.fullmatch(v))


def _int_between(lo: int, hi: int) -> Check:
    return lambda v: v.isdigit() and lo <= int(v) <= hi


def _hints(v: str) -> bool:
    phrases = [p.strip() for p in v.split(",")]
    return 0 < len(phrases) <= 500 and all(0 < len(p) <= 100 for p in phrases)


def _finish_on_key(v: str) -> bool:
    return all(ch in "0123456789#*" for ch in v)


# element -> (attribute -> check of its value); "text" marks what the element's text must be
VERBS: dict[str, dict[str, Check]] = {
    "Response": {},
    "Gather": {
        "action": _match(_URL), "actionOnEmptyResult": _in(_BOOL), "enhanced": _in(_BOOL),
        "finishOnKey": _finish_on_key, "hints": _hints,
        "input": _in({"dtmf", "speech", "dtmf speech", "speech dtmf"}),
        "language": _match(_TAG), "method": _in(_METHOD), "numDigits": _match(_POSITIVE),
        "partialResultCallback": _match(_URL), "partialResultCallbackMethod": _in(_METHOD),
        "profanityFilter": _in(_BOOL), "speechModel": lambda v: bool(v),
        "speechTimeout": lambda v: v == "auto" or bool(_POSITIVE.fullmatch(v)),
        "timeout": _match(_POSITIVE),
    },
    "Say": {"voice": lambda v: bool(v), "language": _match(_TAG), "loop": _int_between(0, 1000)},
    "Dial": {
        "action": _match(_URL), "answerOnBridge": _in(_BOOL), "callerId": _match(_E164),
        "hangupOnStar": _in(_BOOL), "method": _in(_METHOD), "record": lambda v: bool(v),
        "ringTone": lambda v: bool(v), "timeLimit": _match(_POSITIVE),
        "timeout": _int_between(5, 600), "trim": _in({"trim-silence", "do-not-trim"}),
    },
    "Number": {"sendDigits": lambda v: bool(v), "url": _match(_URL), "method": _in(_METHOD)},
    "Sip": {"username": lambda v: bool(v), "password": lambda v: bool(v), "url": _match(_URL),
            "method": _in(_METHOD)},
    "Record": {
        "action": _match(_URL), "finishOnKey": _finish_on_key, "maxLength": _int_between(1, 14400),
        "method": _in(_METHOD), "playBeep": _in(_BOOL), "timeout": _int_between(0, 3600),
        "transcribe": _in(_BOOL), "trim": _in({"trim-silence", "do-not-trim"}),
        "recordingStatusCallback": _match(_URL),
    },
    "Hangup": {},
    "Pause": {"length": _match(_POSITIVE)},
    "Redirect": {"method": _in(_METHOD)},
}  # fmt: skip

CHILDREN: dict[str, set[str]] = {
    "Response": {"Gather", "Say", "Dial", "Record", "Hangup", "Pause", "Redirect"},
    "Gather": {"Say", "Pause"},
    "Dial": {"Number", "Sip"},
}
TEXT: dict[str, Check] = {
    "Say": lambda v: 0 < len(v) <= 4096,
    "Number": _match(_E164),
    "Sip": _match(_SIP),
    "Redirect": _match(_URL),
}


def check_twiml(text: str) -> ET.Element:
    """The parsed document; AssertionError naming what Twilio does not document."""
    root = ET.fromstring(text)  # noqa: S314 (our own output, in a test)
    assert root.tag == "Response", f"the root is <{root.tag}>, not <Response>"
    _check(root)
    return root


def _check(node: ET.Element) -> None:
    attrs = VERBS.get(node.tag)
    assert attrs is not None, f"<{node.tag}> is not a TwiML voice verb or noun"
    for name, value in node.attrib.items():
        assert name in attrs, f"<{node.tag}> has no documented attribute {name!r}"
        assert attrs[name](value), f"<{node.tag} {name}={value!r}>: not a documented value"
    text = (node.text or "").strip()
    if node.tag in TEXT:
        assert TEXT[node.tag](text), f"<{node.tag}>{text!r}: not what it takes"
    else:
        assert not text, f"<{node.tag}> takes no text, got {text!r}"
    for child in node:
        allowed = CHILDREN.get(node.tag, set())
        assert child.tag in allowed, f"<{child.tag}> may not be inside <{node.tag}>"
        _check(child)
