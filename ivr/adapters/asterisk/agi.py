"""The AGI protocol as pure functions: environment blocks, result lines, commands.

Sockets and pipes only move bytes; everything that needs to be right is here
and tested with lines captured from Asterisk 22.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass

from ivr.domain.text import REFUSED_CATEGORIES

# What caller-controlled text (a caller's name and number, a channel, any value of the
# environment block or an AMI event) may not hold, by Unicode category: the one text
# rule's (ivr.domain.text). Line breaks of any kind (Cc: CR, LF, NEL, VT, FF; Zl, Zp:
# U+2028, U+2029) would end an AGI command and start another, or split a row of the
# call log or the board: they become spaces. Format characters (Cf: the bidirectional
# embeddings, overrides, isolates and marks that make a row read as another, "Trojan
# Source" CVE-2021-42574; zero-width spaces and joiners; soft hyphens; tag characters)
# are invisible: dropped. What cannot be shown as itself (Cs: lone surrogates, bytes that
# were not UTF-8; Co: private use; Cn: unassigned and noncharacters) becomes U+FFFD, so
# the reader sees that something was there.
_AS_SPACE = frozenset({"Cc", "Zl", "Zp"})
MAX_CALLER_NAME = 80  # characters: a phone's display shows a few dozen; Asterisk kept 80
_QUOTED_PAIR = re.compile(r"\\(.)")
_NO_NAME = frozenset({"", "unknown", "<unknown>"})
_RESULT = re.compile(r"^200 result=(?P<result>-?[^ ]*)(?: \((?P<data>[^)]*)\))?(?P<rest>.*)$")
HASH_KEY = "#"  # GET DATA's end of input


class AgiError(Exception):
    """An AGI conversation went wrong."""


class AgiHangup(AgiError):
    """The channel hung up (HANGUP notice, result=-1, or 511 on a dead channel)."""


class AgiResultFailure(AgiHangup):
    """result=-1: the command failed, usually because the caller hung up, but a
    playback command also fails this way on a live channel when its file is missing."""


class AgiCommandError(AgiError):
    """Asterisk refused a command (510, 520)."""


class AgiTimeout(AgiError):
    """The peer sent nothing (or too little) in time: an environment block or a reply."""


class AgiLineTooLong(AgiError):
    """A line longer than the server's limit: the dialog cannot go on safely."""


def sanitise(value: str) -> str:
    """Neutralise caller-controlled text before it goes near a protocol line, the call
    log or the board: afterwards it holds no character of the one text rule's refused
    categories (ivr.domain.text.REFUSED_CATEGORIES), and can be written anywhere as UTF-8.

    Line breaks and other control characters (CR and LF above all: they would end the
    AGI command and start another; NUL, which PostgreSQL cannot store; NEL, VT, FF;
    U+2028, U+2029) become spaces; format characters (bidirectional controls,
    zero-width characters) are dropped; lone surrogates (bytes that were not UTF-8,
    decoded with surrogateescape), private-use and unassigned code points become U+FFFD.

    >>> sanitise('evil\\r\\nEXEC Dial PJSIP/x')
    'evil  EXEC Dial PJSIP/x'
    >>> sanitise('Bob\\udcff\\x00\\x85') == 'Bob\\ufffd  '
    True
    >>> sanitise('\\u202eorez\\u2066 \\u5f20')
    'orez \u5f20'
    >>> sanitise('a\\u2028b\\u2029c\\x0bd\\x0ce'), sanitise('z\\u200bw\\u200dj\\ufeff')
    ('a b c d e', 'zwj')
    >>> sanitise('\\ue000\\uffff') == '\\ufffd\\ufffd'
    True
    """
    if value.isprintable():
        return value  # the usual case: no character of any category above
    return "".join(_clean(ch) for ch in value)


def _clean(ch: str) -> str:
    category = unicodedata.category(ch)
    if category not in REFUSED_CATEGORIES:
        return ch
    if category in _AS_SPACE:
        return " "
    return "" if category == "Cf" else "\ufffd"


def caller_name(value: str) -> str:
    """The caller's name as their phone showed it, from Asterisk's CALLERID(name).

    Asterisk passes a SIP display name on with its quoted-string escapes (a
    quote as \\", a backslash as \\\\): they are undone here. Asterisk's
    placeholders for no name ("unknown" in AGI, "<unknown>" in AMI) become "".
    The result is `sanitise`d and at most MAX_CALLER_NAME characters, as the call log
    keeps it and the board shows it.

    >>> caller_name('A \\\\"quoted\\\\" \\\\\\\\ name')
    'A "quoted" \\\\ name'
    >>> caller_name("unknown"), caller_name("<unknown>"), caller_name("Unknown Caller")
    ('', '', 'Unknown Caller')
    """
    value = value.strip()
    if value in _NO_NAME:
        return ""
    name = sanitise(_QUOTED_PAIR.sub(r"\1", value) if "\\" in value else value).strip()
    return name[:MAX_CALLER_NAME].rstrip()


def quote(arg: str) -> str:
    """Quote one AGI command argument.

    >>> quote('hotline/zh-CN/welcome')
    '"hotline/zh-CN/welcome"'
    >>> quote('say "hi"\\n')
    '"say \\\\"hi\\\\" "'
    """
    return '"' + sanitise(arg).replace("\\", "\\\\").replace('"', '\\"') + '"'


def command(name: str, *args: str | int | float) -> bytes:
    """One AGI command line, every argument quoted.

    >>> command("SET VARIABLE", "HOTLINE_ROUTE_KIND", "queue")
    b'SET VARIABLE "HOTLINE_ROUTE_KIND" "queue"\\n'
    """
    parts = [name, *(quote(str(a)) for a in args)]
    return (" ".join(parts) + "\n").encode("utf-8")


def parse_env_line(line: str) -> tuple[str, str] | None:
    """One line of the environment block Asterisk sends first.

    >>> parse_env_line("agi_callerid: 13800000001")
    ('agi_callerid', '13800000001')
    >>> parse_env_line("") is None
    True
    """
    if not line.strip():
        return None
    key, sep, value = line.partition(":")
    if not sep:
        raise AgiError(f"malformed AGI environment line {line[:80]!r}")
    return sanitise(key.strip()), sanitise(value.strip())


def parse_env(block: str) -> dict[str, str]:
    """The whole environment block, up to the blank line. Its lines end at LF (a CR
    before it is stripped with the value), as Asterisk writes them and the FastAGI
    stream reads them: a caller's name holding a lone CR, U+2028 or NEL is one value,
    not lines of its own (str.splitlines breaks at those too).

    >>> parse_env("agi_network: yes\\nagi_network_script: hotline\\n\\n")["agi_network_script"]
    'hotline'
    >>> parse_env("agi_calleridname: Bo\\u2028b\\rx\\nagi_uniqueid: 1.2\\n\\n")
    {'agi_calleridname': 'Bo b x', 'agi_uniqueid': '1.2'}
    """
    env: dict[str, str] = {}
    for line in block.split("\n"):
        item = parse_env_line(line)
        if item is None:
            break
        env[item[0]] = item[1]
    return env


@dataclass(frozen=True)
class AgiResult:
    code: int
    result: str
    data: str = ""
    rest: str = ""

    @property
    def timed_out(self) -> bool:
        return self.data == "timeout"


def parse_result(line: str) -> AgiResult:
    """Parse a response line.

    >>> parse_result("200 result=1 (timeout)")
    AgiResult(code=200, result='1', data='timeout', rest='')
    >>> parse_result("200 result= (timeout)").timed_out
    True
    >>> parse_result("200 result=49 endpos=11680")
    AgiResult(code=200, result='49', data='', rest=' endpos=11680')
    >>> parse_result("200 result=-1")
    Traceback (most recent call last):
    ...
    ivr.adapters.asterisk.agi.AgiResultFailure: result=-1: failed or hung up
    """
    line = line.rstrip("\r\n")
    if line.startswith("HANGUP"):
        raise AgiHangup("HANGUP notice")
    if line.startswith("511"):
        raise AgiHangup(line[:80])
    if line.startswith(("510", "520")):
        raise AgiCommandError(line[:80])
    m = _RESULT.match(line)
    if not m:
        raise AgiError(f"unexpected AGI response {line[:80]!r}")
    if m["result"] == "-1":
        raise AgiResultFailure("result=-1: failed or hung up")
    # A lone CR (or any control character) inside the line never reaches a caller.
    data, rest = sanitise(m["data"] or ""), sanitise(m["rest"] or "")
    return AgiResult(200, sanitise(m["result"]), data, rest)


def digit_from_get_data(res: AgiResult) -> str | None:
    """GET DATA with max 1 digit: the key pressed, or None on timeout.

    GET DATA takes '#' for the end of input, so a caller who presses '#' before any
    digit gets an empty result, and no "(timeout)" after it (res_agi.c answers
    AST_GETDATA_EMPTY_END_TERMINATED so): that is the key '#', not a silence.

    >>> digit_from_get_data(parse_result("200 result=1"))
    '1'
    >>> digit_from_get_data(parse_result("200 result= (timeout)")) is None
    True
    >>> digit_from_get_data(parse_result("200 result=3 (timeout)"))
    '3'
    >>> digit_from_get_data(parse_result("200 result="))
    '#'
    """
    if res.result:
        return res.result[:1]
    return None if res.timed_out else HASH_KEY


def digit_from_wait(res: AgiResult) -> str | None:
    """WAIT FOR DIGIT / STREAM FILE: the ASCII code of the key, 0 for none.

    >>> digit_from_wait(parse_result("200 result=42"))
    '*'
    >>> digit_from_wait(parse_result("200 result=0")) is None
    True
    >>> digit_from_wait(parse_result("200 result=x"))
    Traceback (most recent call last):
    ...
    ivr.adapters.asterisk.agi.AgiError: not a key code: 'x'
    """
    code = res.result or "0"
    if not (code.isascii() and code.isdigit() and len(code) <= 3):
        raise AgiError(f"not a key code: {code[:20]!r}")
    return chr(int(code)) if int(code) > 0 else None
