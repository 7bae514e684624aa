"""The AGI protocol as pure functions, fed with lines as Asterisk writes them."""

from __future__ import annotations

import asyncio
import re

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ivr.adapters.asterisk.agi import (
    AgiCommandError,
    AgiError,
    AgiHangup,
    AgiResult,
    command,
    digit_from_get_data,
    digit_from_wait,
    parse_env,
    parse_env_line,
    parse_result,
    quote,
    sanitise,
)
from ivr.adapters.asterisk.agi_channel import AgiChannel, AgiStream
from ivr.domain.callbacks import CallbackNumberError, callback_number

# The environment block Asterisk 22 sends first on a FastAGI connection.
ENV_BLOCK = (
    "agi_network: yes\n"
    "agi_network_script: hotline\n"
    "agi_request: agi://127.0.0.1:4573/hotline\n"
    "agi_channel: PJSIP/anonymous-00000002\n"
    "agi_language: en\n"
    "agi_type: PJSIP\n"
    "agi_uniqueid: 1732330800.2\n"
    "agi_version: 22.1.0\n"
    "agi_callerid: 13800000001\n"
    "agi_calleridname: Alice\n"
    "agi_callingpres: 0\n"
    "agi_callingani2: 0\n"
    "agi_callington: 0\n"
    "agi_callingtns: 0\n"
    "agi_dnid: 4000\n"
    "agi_rdnis: unknown\n"
    "agi_context: hotline-inbound\n"
    "agi_extension: 4000\n"
    "agi_priority: 3\n"
    "agi_enhanced: 0.0\n"
    "agi_accountcode: \n"
    "agi_threadid: 140234567890\n"
    "\n"
)


# --- environment ------------------------------------------------------------------------


def test_parse_env_reads_the_whole_block() -> None:
    env = parse_env(ENV_BLOCK)
    assert env["agi_network"] == "yes"
    assert env["agi_network_script"] == "hotline"
    assert env["agi_request"] == "agi://127.0.0.1:4573/hotline"  # colons after the first kept
    assert env["agi_uniqueid"] == "1732330800.2"
    assert env["agi_callerid"] == "13800000001"
    assert env["agi_extension"] == "4000"
    assert env["agi_accountcode"] == ""
    assert len(env) == 22


def test_parse_env_stops_at_the_blank_line() -> None:
    env = parse_env("agi_network: yes\n\nagi_callerid: 666\n")
    assert env == {"agi_network": "yes"}


def test_parse_env_accepts_crlf() -> None:
    assert parse_env("agi_network: yes\r\nagi_uniqueid: 1.2\r\n\r\n") == {
        "agi_network": "yes",
        "agi_uniqueid": "1.2",
    }


def test_env_values_are_sanitised() -> None:
    assert parse_env_line("agi_calleridname: Eve\rEXEC Dial PJSIP/x") == (
        "agi_calleridname",
        "Eve EXEC Dial PJSIP/x",
    )


def test_malformed_env_line_is_an_error() -> None:
    with pytest.raises(AgiError, match="malformed AGI environment line"):
        parse_env_line("EXEC Dial PJSIP/evil")


def test_blank_env_line_ends_the_block() -> None:
    assert parse_env_line("") is None
    assert parse_env_line("\n") is None
    assert parse_env_line("   \r\n") is None


# --- result lines --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("line", "expected"),
    [
        ("200 result=0", AgiResult(200, "0")),
        ("200 result=0\n", AgiResult(200, "0")),
        ("200 result=1\r\n", AgiResult(200, "1")),
        ("200 result=1 (timeout)", AgiResult(200, "1", "timeout")),
        ("200 result= (timeout)", AgiResult(200, "", "timeout")),
        ("200 result=1 (sip:seat3@127.0.0.1)", AgiResult(200, "1", "sip:seat3@127.0.0.1")),
        ("200 result=49 endpos=11680", AgiResult(200, "49", "", " endpos=11680")),
        ("200 result=0 (dtmf) endpos=5760", AgiResult(200, "0", "dtmf", " endpos=5760")),
    ],
)
def test_parse_result_success_lines(line: str, expected: AgiResult) -> None:
    assert parse_result(line) == expected


def test_timed_out_flag() -> None:
    assert parse_result("200 result= (timeout)").timed_out
    assert parse_result("200 result=1 (timeout)").timed_out
    assert not parse_result("200 result=1").timed_out


@pytest.mark.parametrize(
    "line",
    [
        "200 result=-1",
        "200 result=-1\n",
        "HANGUP",
        "HANGUP\n",
        "511 Command Not Permitted on a dead channel or intercept routine",
    ],
)
def test_hangup_lines(line: str) -> None:
    with pytest.raises(AgiHangup):
        parse_result(line)


@pytest.mark.parametrize(
    "line",
    [
        "510 Invalid or unknown command",
        "520 Invalid command syntax.  Proper usage follows:",
        "520-Invalid command syntax.  Proper usage follows:",
    ],
)
def test_refused_command_lines(line: str) -> None:
    with pytest.raises(AgiCommandError) as info:
        parse_result(line)
    assert line.rstrip() in str(info.value)
    assert not isinstance(info.value, AgiHangup)


@pytest.mark.parametrize("line", ["", "hello", "200 ok", "100 result=0 Trying..."])
def test_unexpected_lines(line: str) -> None:
    with pytest.raises(AgiError) as info:
        parse_result(line)
    assert type(info.value) is AgiError


def test_error_hierarchy() -> None:
    assert issubclass(AgiHangup, AgiError)
    assert issubclass(AgiCommandError, AgiError)
    assert issubclass(AgiError, Exception)


# --- digits ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("line", "digit"),
    [
        ("200 result=1", "1"),
        ("200 result=0", "0"),
        ("200 result=*", "*"),
        ("200 result=#", "#"),
        ("200 result= (timeout)", None),
        ("200 result=3 (timeout)", "3"),
        ("200 result=", "#"),  # '#' pressed first: GET DATA's end of input, no "(timeout)"
    ],
)
def test_digit_from_get_data(line: str, digit: str | None) -> None:
    assert digit_from_get_data(parse_result(line)) == digit


@pytest.mark.parametrize(
    ("line", "digit"),
    [
        ("200 result=49", "1"),
        ("200 result=48", "0"),
        ("200 result=42", "*"),
        ("200 result=35", "#"),
        ("200 result=0", None),
        ("200 result=0 endpos=11680", None),
    ],
)
def test_digit_from_wait(line: str, digit: str | None) -> None:
    assert digit_from_wait(parse_result(line)) == digit


# --- quoting and commands --------------------------------------------------------------


def test_quote_wraps_in_double_quotes() -> None:
    assert quote("hotline/zh-CN/welcome") == '"hotline/zh-CN/welcome"'
    assert quote("") == '""'


def test_quote_escapes_quotes_and_backslashes() -> None:
    assert quote('say "hi"') == '"say \\"hi\\""'
    assert quote("C:\\temp") == '"C:\\\\temp"'
    assert quote('\\"') == '"\\\\\\""'


@pytest.mark.parametrize(
    "evil",
    [
        "x\nEXEC Dial PJSIP/evil",
        "x\r\nEXEC Dial PJSIP/evil",
        "x\rEXEC Dial PJSIP/evil",
        'x"\nEXEC Dial PJSIP/evil',
        "x\x00\x1b\x7fEXEC Dial PJSIP/evil",
    ],
)
def test_control_characters_never_start_a_new_line(evil: str) -> None:
    q = quote(evil)
    assert "\n" not in q and "\r" not in q and "\x00" not in q and "\x7f" not in q
    line = command("SET VARIABLE", "HOTLINE_CALL_ID", evil)
    assert line.count(b"\n") == 1 and line.endswith(b"\n")
    assert b"\r" not in line
    assert not any(part.startswith(b"EXEC") for part in line.splitlines())


def test_sanitise_keeps_printable_text() -> None:
    assert sanitise("Zhang Wei 张伟 +86-138") == "Zhang Wei 张伟 +86-138"
    assert sanitise("a\tb\nc") == "a b c"


def test_command_quotes_every_argument() -> None:
    assert command("SET VARIABLE", "HOTLINE_ROUTE_KIND", "queue") == (
        b'SET VARIABLE "HOTLINE_ROUTE_KIND" "queue"\n'
    )
    assert command("GET DATA", "hotline/en/invalid&hotline/en/welcome", 5000, 1) == (
        b'GET DATA "hotline/en/invalid&hotline/en/welcome" "5000" "1"\n'
    )
    assert command("ANSWER") == b"ANSWER\n"


def test_command_encodes_utf8() -> None:
    assert command("VERBOSE", "张伟", 3) == 'VERBOSE "张伟" "3"\n'.encode()


# --- properties (hypothesis): whatever arrives, only AgiError, and no CR/LF gets through ------

PROPERTY = settings(deadline=None, derandomize=True, database=None, max_examples=200)
CONTROL = re.compile(r"[\x00-\x1f\x7f]")
QUOTED_ARG = re.compile(r' "((?:[^"\\\r\n]|\\.)*)"')

# What Asterisk puts in an environment value: printable text, trimmed (what `sanitise`
# leaves as it is: no control, format, surrogate, private-use or unassigned character,
# no line or paragraph separator).
SHOWN = st.characters(blacklist_categories=("Cc", "Cf", "Cs", "Co", "Cn", "Zl", "Zp"))
env_values = st.text(SHOWN, max_size=60).map(str.strip)
env_keys = st.from_regex(r"agi_[a-z_]{1,20}", fullmatch=True)
any_text = st.text(max_size=300)
env_like = st.one_of(any_text, st.builds("{}: {}".format, any_text, any_text))


@PROPERTY
@given(st.dictionaries(env_keys, env_values, max_size=12))
def test_environment_block_round_trips(env: dict[str, str]) -> None:
    block = "".join(f"{k}: {v}\n" for k, v in env.items()) + "\n"
    assert parse_env(block) == env


@PROPERTY
@given(env_like)
def test_an_environment_line_parses_or_raises_agi_error(line: str) -> None:
    try:
        item = parse_env_line(line)
    except AgiError:
        return
    assert item is None or not any(CONTROL.search(part) for part in item)


@PROPERTY
@given(st.lists(env_like).map("\n".join))
def test_an_environment_block_parses_or_raises_agi_error(block: str) -> None:
    try:
        env = parse_env(block)
    except AgiError:
        return
    assert not any(CONTROL.search(k) or CONTROL.search(v) for k, v in env.items())


@PROPERTY
@given(st.one_of(any_text, st.builds("200 result={}".format, any_text)))
def test_a_result_line_parses_or_raises_agi_error(line: str) -> None:
    try:
        res = parse_result(line)
        digit_from_get_data(res)
        digit_from_wait(res)
    except AgiError:
        return
    assert res.code == 200
    assert not any(CONTROL.search(part) for part in (res.result, res.data, res.rest))


@PROPERTY
@given(
    st.from_regex(r"(0|[1-9][0-9]{0,4}|-[2-9])?", fullmatch=True),
    st.text(
        st.characters(
            blacklist_categories=("Cc", "Cf", "Cs", "Co", "Cn", "Zl", "Zp"),
            blacklist_characters=")",
        ),
        max_size=40,
    ),
    st.from_regex(r"( endpos=[0-9]{1,6})?", fullmatch=True),
)
def test_a_result_line_round_trips(result: str, data: str, rest: str) -> None:
    line = f"200 result={result} ({data}){rest}\n"
    assert parse_result(line) == AgiResult(200, result, data, rest)


@PROPERTY
@given(st.sampled_from(["SET VARIABLE", "GET DATA", "STREAM FILE", "VERBOSE"]), st.lists(any_text))
def test_a_command_is_one_line_and_its_arguments_round_trip(name: str, args: list[str]) -> None:
    line = command(name, *args).decode("utf-8")
    assert line.endswith("\n") and line.count("\n") == 1 and "\r" not in line
    assert line.startswith(name)
    quoted = line[len(name) : -1]
    assert QUOTED_ARG.sub("", quoted) == ""  # nothing but quoted arguments
    unquoted = [re.sub(r"\\(.)", r"\1", a) for a in QUOTED_ARG.findall(quoted)]
    assert unquoted == [sanitise(a) for a in args]


@PROPERTY
@given(st.binary(max_size=600), st.integers(min_value=16, max_value=256))
def test_the_channel_reads_any_bytes_as_an_environment_or_an_agi_error(
    data: bytes, limit: int
) -> None:
    """The stream side: a line over the limit or an early EOF is an AgiError."""

    async def read() -> dict[str, str]:
        stream = AgiStream(limit)
        stream.data_received(data)
        stream.eof_received()
        agi = AgiChannel(stream, env_timeout=5)
        await agi.read_env()
        return agi.env

    try:
        env = asyncio.run(read())
    except AgiError:
        return
    assert not any(CONTROL.search(k) or CONTROL.search(v) for k, v in env.items())


@PROPERTY
@given(st.one_of(any_text, st.from_regex(r"\+?[0-9]{0,25}", fullmatch=True)))
def test_a_callback_number_is_accepted_only_with_its_structure(raw: str) -> None:
    valid = re.fullmatch(r"\+?[0-9]{3,20}", raw) is not None
    try:
        assert callback_number(raw) == raw and valid
    except CallbackNumberError as e:
        assert not valid
        # the reason never repeats the number (a word like 'all' may be in its text)
        assert sum(ch.isdigit() for ch in raw) < 3 or raw not in str(e)


@pytest.mark.parametrize("sep", ["\r", "\u2028", "\u2029", "\x85", "\x0b", "\x0c", "\x1c", "\x1e"])
def test_parse_env_takes_a_value_with_a_line_separator_as_one_value(sep: str) -> None:
    """Asterisk ends the block's lines with LF; str.splitlines broke a caller's name at
    these too, and its rest ('Lee', no colon) refused the whole block as malformed."""
    block = f"agi_uniqueid: 1.2\nagi_calleridname: Bob{sep}Lee\nagi_callerid: 13800000001\n\n"
    assert parse_env(block) == {
        "agi_uniqueid": "1.2",
        "agi_calleridname": "Bob Lee",
        "agi_callerid": "13800000001",
    }
