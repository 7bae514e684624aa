"""The AGI protocol as pure functions, fed with lines as Asterisk writes them."""

from __future__ import annotations

import pytest

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
