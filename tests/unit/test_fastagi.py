"""A real FastAGI server on an ephemeral port, driven by a fake Asterisk written here.

The fake speaks the protocol as Asterisk 22 does: it sends the environment
block, then answers every command line the server writes with a result line.
Tests assert on the exact lines the server wrote and on the call-log events.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import re
import socket
import struct
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from pathlib import Path
from typing import TypeVar
from zoneinfo import ZoneInfo

import pytest
from config_files import edit

from ivr.adapters.asterisk.fastagi import AgiChannel, FastAgiServer, RouteTable, route_name
from ivr.adapters.asterisk.fastagi_limits import FastAgiLimits, LogLimiter
from ivr.adapters.asterisk.handlers import Handlers
from ivr.app.ivr_session import IvrDeps
from ivr.app.ports import NoHistory, PresenceSource, StaticPresence
from ivr.config import HotlineConfig, load_config
from ivr.domain.calllog import CallEnded, CallEvent, CallStarted, MenuStep, Outcome, Routed
from ivr.domain.routing import Presence

SHANGHAI = ZoneInfo("Asia/Shanghai")
MONDAY_10 = datetime(2026, 11, 23, 10, 0, tzinfo=SHANGHAI)
UID = "1732330800.2"
CALLER = "13912345678"

E = TypeVar("E", bound=CallEvent)
T = TypeVar("T")

FALLBACK = 'SET VARIABLE "HOTLINE_ROUTE_KIND" ""\n'
QUOTED = r'"(?:[^"\\\r\n]|\\.)*"'
WELL_FORMED = re.compile(
    rf"^(SET VARIABLE|GET VARIABLE|GET DATA|STREAM FILE|WAIT FOR DIGIT|CHANNEL STATUS|VERBOSE|EXEC)"
    rf"( {QUOTED})*\n$"
)
SET_VARIABLE = re.compile(rf"^SET VARIABLE ({QUOTED}) ({QUOTED})\n$")
MSET = re.compile(rf'^EXEC "MSet" ({QUOTED})\n$')


# --- the fake Asterisk side ----------------------------------------------------------------


def env_block(**overrides: str) -> bytes:
    """An environment block as Asterisk sends it for AGI(agi://127.0.0.1/hotline)."""
    env = {
        "agi_network": "yes",
        "agi_network_script": "hotline",
        "agi_request": "agi://127.0.0.1:4573/hotline",
        "agi_channel": "PJSIP/anonymous-00000002",
        "agi_language": "en",
        "agi_type": "PJSIP",
        "agi_uniqueid": UID,
        "agi_version": "22.1.0",
        "agi_callerid": CALLER,
        "agi_calleridname": "Alice",
        "agi_callingpres": "0",
        "agi_callingani2": "0",
        "agi_callington": "0",
        "agi_callingtns": "0",
        "agi_dnid": "4000",
        "agi_rdnis": "unknown",
        "agi_context": "hotline-inbound",
        "agi_extension": "4000",
        "agi_priority": "3",
        "agi_enhanced": "0.0",
        "agi_accountcode": "",
        "agi_threadid": "140234567890",
    }
    env.update(overrides)
    return ("".join(f"{k}: {v}\n" for k, v in env.items()) + "\n").encode("utf-8")


def unquote(arg: str) -> str:
    return re.sub(r"\\(.)", r"\1", arg[1:-1])


@dataclass
class FakeAsterisk:
    """Answers command lines like Asterisk 22. GET DATA takes the next of `keys`:
    a digit, 'T' (timeout), 'H' (the caller hangs up) or 'X' (the connection
    drops); '#' comes back as Asterisk answers it, an empty result. STREAM FILE
    plays to the end unless `during_stream` has a key for it.
    A file in `missing` cannot be played: result=-1 on a live channel."""

    keys: list[str] = field(default_factory=list)
    during_stream: list[str] = field(default_factory=list)
    missing: set[str] = field(default_factory=set)
    variables: dict[str, str] = field(default_factory=dict)
    special: dict[int, list[str]] = field(default_factory=dict)  # reply to command n
    received: list[str] = field(default_factory=list)
    has_mset: bool = True

    def reply(self, line: str) -> list[str] | None:
        n = len(self.received)
        self.received.append(line)
        if n in self.special:
            return self.special[n]
        if line.startswith(("GET DATA", "STREAM FILE")) and self._file(line) in self.missing:
            return ["200 result=-1 endpos=0"]
        if line.startswith("CHANNEL STATUS"):
            return ["200 result=6"]
        if line.startswith("STREAM FILE"):
            key = self.during_stream.pop(0) if self.during_stream else ""
            return [f"200 result={ord(key) if key else 0} endpos=8000"]
        if line.startswith("WAIT FOR DIGIT"):
            key = self.keys.pop(0) if self.keys else "T"
            return ["200 result=0" if key == "T" else f"200 result={ord(key)}"]
        if line.startswith("GET DATA"):
            key = self.keys.pop(0) if self.keys else "T"
            if key == "T":
                return ["200 result= (timeout)"]
            if key == "H":
                return ["HANGUP", "200 result=-1"]
            if key == "X":
                return None
            if key == "#":  # '#' ends GET DATA's input: an empty result, no "(timeout)"
                return ["200 result="]
            return [f"200 result={key}"]
        if line.startswith("SET VARIABLE"):
            self.variables.update(set_variables([line]))
            return ["200 result=1"]
        if line.startswith('EXEC "MSet"'):
            if not self.has_mset:
                return ["200 result=-2"]  # Asterisk: no such application
            self.variables.update(set_variables([line]))
            return ["200 result=0"]
        if line.startswith("GET VARIABLE"):
            name = unquote(line.split(" ", 2)[2].strip())
            value = self.variables.get(name)
            return ["200 result=0"] if value is None else [f"200 result=1 ({value})"]
        return ["510 Invalid or unknown command"]

    @staticmethod
    def _file(line: str) -> str:
        return unquote(line.split(" ", 2)[2].split('" "')[0] + '"')


async def _converse(port: int, env: bytes, asterisk: FakeAsterisk) -> list[str]:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        writer.write(env)
        await writer.drain()
        while raw := await reader.readline():
            replies = asterisk.reply(raw.decode("utf-8"))
            if replies is None:
                break
            writer.write("".join(f"{r}\n" for r in replies).encode("utf-8"))
            await writer.drain()
    finally:
        writer.close()
        with contextlib.suppress(ConnectionError):
            await writer.wait_closed()
    return asterisk.received


async def _serve(routes: RouteTable, calls: list[tuple[bytes, FakeAsterisk]]) -> list[list[str]]:
    server = FastAgiServer(routes, host="127.0.0.1", port=0)
    await server.start()
    try:
        assert server.port != 0
        return list(
            await asyncio.wait_for(
                asyncio.gather(*(_converse(server.port, e, a) for e, a in calls)), timeout=10
            )
        )
    finally:
        await server.stop()


def call(routes: RouteTable, asterisk: FakeAsterisk, env: bytes | None = None) -> list[str]:
    """One call through a fresh server: the lines the server wrote."""
    return asyncio.run(_serve(routes, [(env or env_block(), asterisk)]))[0]


def set_variables(lines: list[str]) -> list[tuple[str, str]]:
    """The variables set by these lines, in order: SET VARIABLE and EXEC MSet."""
    out: list[tuple[str, str]] = []
    for line in lines:
        if m := SET_VARIABLE.match(line):
            out.append((unquote(m[1]), unquote(m[2])))
        elif m := MSET.match(line):
            pairs = unquote(m[1]).split(",")
            out.extend((p.split("=", 1)[0], p.split("=", 1)[1]) for p in pairs)
    return out


# --- the IVR handlers built from the sample config -------------------------------------------


class ListCallLog:
    def __init__(self) -> None:
        self.events: list[CallEvent] = []

    def record(self, event: CallEvent) -> None:
        self.events.append(event)

    def of(self, kind: type[E]) -> list[E]:
        return [e for e in self.events if isinstance(e, kind)]


class BrokenPresence:
    def snapshot(self) -> Presence:
        raise RuntimeError("presence database is down")


@pytest.fixture
def calllog() -> ListCallLog:
    return ListCallLog()


def handlers(
    cfg: HotlineConfig, log: ListCallLog, presence: PresenceSource | None = None
) -> Handlers:
    deps = IvrDeps(
        menu=cfg.menu,
        roster=cfg.roster,
        policy=cfg.policy,
        default_language=cfg.site.default_language,
        log=log,
        history=NoHistory(),
        presence=presence or StaticPresence(),
        clock=lambda: MONDAY_10,
    )
    return Handlers(deps)


@pytest.fixture
def routes(sample_config: HotlineConfig, calllog: ListCallLog) -> RouteTable:
    return handlers(sample_config, calllog).routes()


# --- a routed call --------------------------------------------------------------------------


def test_key_1_sets_the_queue_route(routes: RouteTable, calllog: ListCallLog) -> None:
    lines = call(routes, FakeAsterisk(keys=["1"]))
    assert lines[0] == 'GET DATA "hotline/zh-CN/welcome" "5000" "1"\n'
    assert lines[1].startswith('EXEC "MSet" ')  # one round trip for every route variable
    assert set_variables(lines[1:]) == [
        ("HOTLINE_CALL_ID", UID),
        ("HOTLINE_ARRIVED", str(int(MONDAY_10.timestamp()))),  # a callback keeps this place
        ("HOTLINE_ROUTE_TARGET", "enquiries"),
        ("HOTLINE_QUEUE", "enquiries"),
        ("HOTLINE_PRIORITY", "1"),
        ("HOTLINE_MAX_WAIT", "120"),
        ("HOTLINE_RING_SECONDS", "20"),
        ("HOTLINE_OVERFLOW", "callback"),
        ("HOTLINE_LANG", "zh-CN"),
        ("HOTLINE_ROUTE_KIND", "queue"),  # last: the dialplan acts on it
    ]
    assert len(lines) == 2
    assert all(WELL_FORMED.match(line) for line in lines), lines


def test_key_1_is_logged(routes: RouteTable, calllog: ListCallLog) -> None:
    call(routes, FakeAsterisk(keys=["1"]))
    kinds = [type(e) for e in calllog.events]
    assert kinds == [CallStarted, MenuStep, MenuStep, Routed]
    started = calllog.events[0]
    assert started == CallStarted(
        UID, MONDAY_10, CALLER, "Alice", "4000", "PJSIP/anonymous-00000002", "fastagi"
    )
    steps = calllog.of(MenuStep)
    assert [(s.seq, s.event, s.key) for s in steps] == [(1, "start", ""), (2, "key", "1")]
    routed = calllog.events[-1]
    assert isinstance(routed, Routed)
    assert (routed.uid, routed.kind, routed.target, routed.branch) == (
        UID,
        "queue",
        "enquiries",
        "enquiries",
    )
    assert "menu main: key 1 -> route:enquiries" in routed.trace
    assert routed.trace[-1] == "route: queue enquiries"


def test_failures_replay_the_apology_and_reach_the_operator(
    routes: RouteTable, calllog: ListCallLog
) -> None:
    lines = call(routes, FakeAsterisk(keys=["T", "7", "T"]))
    # AGI's GET DATA plays one file: the apology goes first as an interruptible STREAM FILE.
    assert lines[0:5] == [
        'GET DATA "hotline/zh-CN/welcome" "5000" "1"\n',
        'STREAM FILE "hotline/zh-CN/timeout" "0123456789*#"\n',
        'GET DATA "hotline/zh-CN/menu_short" "5000" "1"\n',  # the short list, not the welcome
        'STREAM FILE "hotline/zh-CN/invalid" "0123456789*#"\n',
        'GET DATA "hotline/zh-CN/menu_short" "5000" "1"\n',
    ]
    assert set_variables(lines)[-1] == ("HOTLINE_ROUTE_KIND", "queue")
    assert ("HOTLINE_ROUTE_TARGET", "operator") in set_variables(lines)
    assert [s.event for s in calllog.of(MenuStep)] == [
        "start",
        "timeout",
        "invalid",
        "timeout",
    ]


def test_a_hash_key_pressed_at_a_menu_is_a_wrong_key_not_a_silence(
    routes: RouteTable, calllog: ListCallLog
) -> None:
    # GET DATA ends on '#' with nothing read: the caller pressed a key the menu does
    # not offer. They hear the wrong-key apology, not the no-input one, and the call
    # log says which key it was.
    lines = call(routes, FakeAsterisk(keys=["#", "1"]))
    assert lines[1] == 'STREAM FILE "hotline/zh-CN/invalid" "0123456789*#"\n'
    steps = calllog.of(MenuStep)
    assert [(s.event, s.key) for s in steps] == [("start", ""), ("invalid", "#"), ("key", "1")]
    assert ("HOTLINE_ROUTE_TARGET", "enquiries") in set_variables(lines)


def test_english_prompts_after_language_key(routes: RouteTable) -> None:
    lines = call(routes, FakeAsterisk(keys=["8", "1"]))
    assert lines[1] == 'GET DATA "hotline/en/welcome" "5000" "1"\n'
    assert ("HOTLINE_LANG", "en") in set_variables(lines)


def test_two_calls_at_once(sample_config: HotlineConfig, calllog: ListCallLog) -> None:
    routes = handlers(sample_config, calllog).routes()
    first, second = asyncio.run(
        _serve(
            routes,
            [
                (env_block(agi_uniqueid="1.1"), FakeAsterisk(keys=["1"])),
                (env_block(agi_uniqueid="1.2"), FakeAsterisk(keys=["9"])),
            ],
        )
    )
    assert set_variables(first)[-1] == ("HOTLINE_ROUTE_KIND", "queue")
    assert set_variables(second)[-1] == ("HOTLINE_ROUTE_KIND", "callback")
    routed = {e.uid: e.kind for e in calllog.of(Routed)}
    assert routed == {"1.1": "queue", "1.2": "callback"}


def test_without_mset_the_route_variables_are_set_one_by_one(routes: RouteTable) -> None:
    asterisk = FakeAsterisk(keys=["1"], has_mset=False)
    lines = call(routes, asterisk)
    assert lines[1].startswith('EXEC "MSet" ')
    assert len(lines) == 2 + 10  # the refused MSet, then ten SET VARIABLEs
    assert set_variables(lines[2:]) == set_variables(lines[1:2])
    assert asterisk.variables["HOTLINE_ROUTE_KIND"] == "queue"


# --- injection ------------------------------------------------------------------------------


def test_carriage_return_in_caller_data_never_makes_a_new_line(
    routes: RouteTable, calllog: ListCallLog
) -> None:
    env = env_block(
        agi_uniqueid=f"{UID}\rEXEC Dial PJSIP/evil",
        agi_callerid=f"{CALLER}\rEXEC Dial PJSIP/evil",
        agi_calleridname='Eve"\rEXEC Dial PJSIP/evil',
    )
    lines = call(routes, FakeAsterisk(keys=["9"]), env)
    # Not plain enough for MSet: GET DATA, then ten SET VARIABLEs, nothing extra.
    assert len(lines) == 11
    assert all(WELL_FORMED.match(line) for line in lines), lines
    assert not any(line.startswith("EXEC") for line in lines)
    assert lines[1] == f'SET VARIABLE "HOTLINE_CALL_ID" "{UID} EXEC Dial PJSIP/evil"\n'
    # the callback target is the caller's digits only
    assert ("HOTLINE_ROUTE_TARGET", f"{CALLER}") in set_variables(lines)
    assert ("HOTLINE_ROUTE_KIND", "callback") in set_variables(lines)


def test_crlf_in_caller_id_never_makes_an_extra_command(
    routes: RouteTable, calllog: ListCallLog
) -> None:
    env = env_block(agi_callerid=f"{CALLER}\r\nEXEC Dial PJSIP/evil")
    lines = call(routes, FakeAsterisk(keys=["1"]), env)
    assert not any("EXEC" in line for line in lines)
    # "EXEC Dial ..." arrives as a malformed environment line: the request is
    # refused (nothing, or at most the fallback), never routed, never dialled.
    assert lines in ([], [FALLBACK])
    assert not calllog.of(Routed)


# --- fail safe ----------------------------------------------------------------------------------


def test_unknown_route_clears_the_route_kind(routes: RouteTable, calllog: ListCallLog) -> None:
    lines = call(routes, FakeAsterisk(), env_block(agi_network_script="nosuch"))
    assert lines == [FALLBACK]
    assert calllog.events == []


def test_handler_raising_clears_the_route_kind(caplog: pytest.LogCaptureFixture) -> None:
    async def boom(agi: AgiChannel) -> None:
        raise RuntimeError("bug in handler")

    table = RouteTable()
    table.add("hotline", boom)
    with caplog.at_level(logging.ERROR, logger="ivr.adapters.asterisk.fastagi"):
        assert call(table, FakeAsterisk()) == [FALLBACK]
    assert any(UID in r.getMessage() and "fallback" in r.getMessage() for r in caplog.records)


@pytest.mark.parametrize("uid", ["", " ", "\x00", None], ids=["empty", "blank", "nul", "absent"])
def test_a_call_without_a_uniqueid_goes_to_the_fallback_unlogged(
    routes: RouteTable, calllog: ListCallLog, uid: str | None
) -> None:
    """Records are keyed by the uniqueid: the menu's events of such calls would all
    share one record. The dialplan's fallback records the call under its own uid."""
    env = env_block(agi_uniqueid=uid or "")
    if uid is None:
        env = env.replace(b"agi_uniqueid: \n", b"")
    assert call(routes, FakeAsterisk(keys=["1"]), env) == [FALLBACK]
    assert calllog.events == []


@pytest.mark.parametrize("uid", ["", " ", "\x00", None], ids=["empty", "blank", "nul", "absent"])
def test_an_overflow_without_a_call_id_falls_back_unlogged(
    routes: RouteTable, calllog: ListCallLog, uid: str | None
) -> None:
    """As for the menu: without HOTLINE_CALL_ID or agi_uniqueid, the overflow's Routed
    would join every such call's record. The dialplan's preset overflow serves it."""
    env = env_block(agi_network_script="overflow", agi_uniqueid=uid or "")
    if uid is None:
        env = env.replace(b"agi_uniqueid: \n", b"")
    asterisk = FakeAsterisk(variables={"HOTLINE_QUEUE": "enquiries", "QUEUESTATUS": "TIMEOUT"})
    assert call(routes, asterisk, env)[-1] == FALLBACK
    assert calllog.events == []


def test_an_overflow_keeps_its_call_id_from_the_dialplan(
    routes: RouteTable, calllog: ListCallLog
) -> None:
    asterisk = FakeAsterisk(variables={"HOTLINE_QUEUE": "enquiries", "HOTLINE_CALL_ID": UID})
    call(routes, asterisk, env_block(agi_network_script="overflow", agi_uniqueid=""))
    assert [e.uid for e in calllog.of(Routed)] == [UID]


def test_error_while_deciding_falls_back(
    sample_config: HotlineConfig, calllog: ListCallLog, caplog: pytest.LogCaptureFixture
) -> None:
    routes = handlers(sample_config, calllog, BrokenPresence()).routes()
    with caplog.at_level(logging.ERROR, logger="ivr.adapters.asterisk.fastagi"):
        lines = call(routes, FakeAsterisk(keys=["1"]))
    assert lines[-1] == FALLBACK
    assert ("HOTLINE_ROUTE_KIND", "queue") not in set_variables(lines)
    assert not calllog.of(Routed)


def test_refused_command_with_usage_text_falls_back(routes: RouteTable) -> None:
    usage = [
        "520-Invalid command syntax.  Proper usage follows:",
        " Usage: GET DATA <file to be streamed> [timeout] [max digits]",
        "520 End of proper usage.",
    ]
    lines = call(routes, FakeAsterisk(keys=["1"], special={0: usage}))
    # the usage lines were skipped, so the fallback's own reply was read correctly
    assert lines == ['GET DATA "hotline/zh-CN/welcome" "5000" "1"\n', FALLBACK]


# --- hang-ups --------------------------------------------------------------------------------


def test_hangup_in_menu_is_logged_as_abandoned(routes: RouteTable, calllog: ListCallLog) -> None:
    lines = call(routes, FakeAsterisk(keys=["7", "H"]))
    assert [line.split(" ")[0] for line in lines] == ["GET", "STREAM", "GET"]
    ended = calllog.of(CallEnded)
    assert len(ended) == 1
    assert ended[0].uid == UID
    assert ended[0].outcome is Outcome.ABANDONED_IN_MENU
    assert not calllog.of(Routed)


def test_dropped_connection_in_menu_is_logged_as_abandoned(
    routes: RouteTable, calllog: ListCallLog
) -> None:
    call(routes, FakeAsterisk(keys=["X"]))
    assert [type(e) for e in calllog.events] == [CallStarted, MenuStep, CallEnded]
    assert calllog.of(CallEnded)[0].outcome is Outcome.ABANDONED_IN_MENU


def test_a_connection_reset_in_menu_is_a_hang_up_not_an_error(
    routes: RouteTable, calllog: ListCallLog, caplog: pytest.LogCaptureFixture
) -> None:
    async def scenario(port: int) -> list[str]:
        reader, writer = await _hold(port, env_block())
        await reader.readline()  # GET DATA, answered with a reset (RST, not FIN)
        sock = writer.get_extra_info("socket")
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        writer.close()
        return await _converse(port, env_block(), FakeAsterisk(keys=["1"]))

    with caplog.at_level(logging.INFO):
        after = asyncio.run(_with_server(routes, FastAgiLimits(), scenario))
    assert set_variables(after)[-1] == ("HOTLINE_ROUTE_KIND", "queue")  # still serving
    ended = calllog.of(CallEnded)
    assert [(e.uid, e.outcome) for e in ended] == [(UID, Outcome.ABANDONED_IN_MENU)]
    assert not any(r.exc_info for r in caplog.records)  # no traceback for a hang-up


def test_dead_channel_stops_the_conversation(routes: RouteTable) -> None:
    dead = ["511 Command Not Permitted on a dead channel or intercept routine"]
    lines = call(routes, FakeAsterisk(keys=["1"], special={1: dead}))
    assert len(lines) == 2  # no command after the 511, not even the fallback


def test_connection_closed_before_the_environment(routes: RouteTable) -> None:
    async def scenario() -> list[str]:
        server = FastAgiServer(routes, port=0)
        await server.start()
        try:
            _, writer = await asyncio.open_connection("127.0.0.1", server.port)
            writer.write(b"agi_network: yes\n")
            writer.close()
            await writer.wait_closed()
            # the server survives and serves the next call
            return await asyncio.wait_for(
                _converse(server.port, env_block(), FakeAsterisk(keys=["1"])), timeout=10
            )
        finally:
            await server.stop()

    lines = asyncio.run(scenario())
    assert set_variables(lines)[-1] == ("HOTLINE_ROUTE_KIND", "queue")


def test_stop_returns_with_a_call_in_progress(routes: RouteTable) -> None:
    """Shutting down must not wait for an Asterisk that never answers (the
    caller's channel then runs AGISTATUS=FAILURE -> fallback in the dialplan)."""

    async def scenario() -> bytes:
        server = FastAgiServer(routes, port=0)
        await server.start()
        reader, writer = await asyncio.open_connection("127.0.0.1", server.port)
        writer.write(env_block())
        await writer.drain()
        first = await asyncio.wait_for(reader.readline(), timeout=5)  # never answered
        await asyncio.wait_for(server.stop(), timeout=5)
        rest = await asyncio.wait_for(reader.read(), timeout=5)  # the server hung up
        writer.close()
        with contextlib.suppress(ConnectionError):
            await writer.wait_closed()
        return first + rest

    assert asyncio.run(scenario()) == b'GET DATA "hotline/zh-CN/welcome" "5000" "1"\n'


# --- the overflow route -------------------------------------------------------------------


def test_overflow_route_offers_the_configured_overflow(
    routes: RouteTable, calllog: ListCallLog
) -> None:
    asterisk = FakeAsterisk(
        variables={
            "HOTLINE_QUEUE": "enquiries",
            "HOTLINE_LANG": "en",
            "QUEUESTATUS": "TIMEOUT",
            "HOTLINE_CALL_ID": "1732330700.1",
        }
    )
    lines = call(routes, asterisk, env_block(agi_network_script="overflow"))
    assert all(WELL_FORMED.match(line) for line in lines), lines
    assert lines[0] == 'GET VARIABLE "HOTLINE_QUEUE"\n'
    assert set_variables(lines)[-1] == ("HOTLINE_ROUTE_KIND", "callback")
    assert ("HOTLINE_ROUTE_TARGET", CALLER) in set_variables(lines)
    routed = calllog.of(Routed)
    assert len(routed) == 1
    r = routed[0]
    assert isinstance(r, Routed)
    assert (r.uid, r.branch, r.kind, r.language) == ("1732330700.1", "enquiries", "callback", "en")
    assert r.trace[0] == "overflow after queue enquiries: TIMEOUT: callback"


def test_an_overflow_after_an_outside_leg_says_which_number_went_unanswered(
    routes: RouteTable, calllog: ListCallLog
) -> None:
    asterisk = FakeAsterisk(
        variables={
            "HOTLINE_QUEUE": "repairs",
            "DIALSTATUS": "NOANSWER",
            "HOTLINE_EXTERNAL": "+8613700000009@carrier",
        }
    )
    call(routes, asterisk, env_block(agi_network_script="overflow"))
    (r,) = calllog.of(Routed)
    assert isinstance(r, Routed)
    assert r.trace[0] == "overflow after external +8613700000009@carrier: NOANSWER: callback"
    tampered = FakeAsterisk(variables={"HOTLINE_EXTERNAL": "+86 1;Dial(x)@c", "DIALSTATUS": "BUSY"})
    call(routes, tampered, env_block(agi_network_script="overflow"))
    assert calllog.of(Routed)[-1].trace[0].startswith("overflow after queue ")  # type: ignore[union-attr]


# --- the route table ---------------------------------------------------------------------------


def test_route_table_refuses_a_duplicate() -> None:
    async def h(agi: AgiChannel) -> None:
        return None

    table = RouteTable()
    table.add("hotline", h)
    with pytest.raises(ValueError, match="'hotline' is already registered"):
        table.add("hotline", h)
    assert "hotline" in table and table.get("hotline") is h
    assert table.get("nosuch") is None and "nosuch" not in table


def test_ivr_handlers_register_hotline_and_overflow(routes: RouteTable) -> None:
    assert "hotline" in routes and "overflow" in routes


@pytest.mark.parametrize(
    ("script", "name"),
    [("hotline", "hotline"), ("/hotline?lang=en", "hotline"), ("overflow/", "overflow"), ("", "")],
)
def test_route_name(script: str, name: str) -> None:
    assert route_name({"agi_network_script": script}) == name


def test_a_key_during_the_apology_is_the_callers_choice(
    routes: RouteTable, calllog: ListCallLog
) -> None:
    lines = call(routes, FakeAsterisk(keys=["7"], during_stream=["1"]))
    assert lines[1] == 'STREAM FILE "hotline/zh-CN/invalid" "0123456789*#"\n'
    assert not any(line.startswith("GET DATA") for line in lines[2:])
    assert ("HOTLINE_ROUTE_TARGET", "enquiries") in set_variables(lines)
    assert [s.event for s in calllog.of(MenuStep)] == ["start", "invalid", "key"]


def test_a_missing_prompt_is_not_a_hangup(routes: RouteTable, calllog: ListCallLog) -> None:
    asterisk = FakeAsterisk(keys=["7", "1"], missing={"hotline/zh-CN/invalid"})
    lines = call(routes, asterisk)
    assert "CHANNEL STATUS\n" in lines  # the channel was probed, found alive
    assert set_variables(lines)[-1] == ("HOTLINE_ROUTE_KIND", "queue")
    assert not calllog.of(CallEnded)


# --- the callback route -----------------------------------------------------------


@dataclass
class FakeLedger:
    """Stands in for the callback ledger (tested for real in tests/adapters and e2e)."""

    refuse: bool = False
    requests: list[tuple[object, ...]] = field(default_factory=list)

    def request_from_ivr(
        self,
        number,
        language,
        branch,
        arrived_at,
        matter=None,
        uid=None,  # type: ignore[no-untyped-def]
        source="ivr",
    ):
        from ivr.app.callbacks import CallbackPromise, CallbackRefusedError

        if self.refuse:
            raise CallbackRefusedError(f"{number} is on the do-not-call list")
        self.requests.append((number, language, branch, arrived_at, uid, source))
        return CallbackPromise(7, number, arrived_at + timedelta(hours=1), "Asia/Shanghai", True)


def _callback_call(
    ledger: FakeLedger,
    cfg: HotlineConfig,
    variables: dict[str, str],
    log: ListCallLog | None = None,
) -> list[str]:
    h = handlers(cfg, log if log is not None else ListCallLog())
    h.callbacks = ledger  # type: ignore[assignment]
    asterisk = FakeAsterisk(variables=variables)
    return call(h.routes(), asterisk, env_block(agi_network_script="callback"))


def test_callback_route_records_the_request_and_says_when(sample_config: HotlineConfig) -> None:
    ledger = FakeLedger()
    arrived = int(MONDAY_10.timestamp())
    lines = _callback_call(ledger, sample_config, {
        "HOTLINE_CALLBACK_NUMBER": "13800000009", "HOTLINE_LANG": "en",
        "HOTLINE_QUEUE": "complaints", "HOTLINE_CALL_ID": UID, "HOTLINE_ARRIVED": str(arrived),
    })  # fmt: skip
    number, language, branch, at, uid, source = ledger.requests[0]
    assert (number, language, branch, uid, source) == (
        "13800000009",
        "en",
        "complaints",
        UID,
        "overflow",
    )
    assert at == MONDAY_10  # the request keeps the call's place, not the time it asked
    assert ("HOTLINE_CALLBACK_TZ", "Asia/Shanghai") in set_variables(lines)
    assert ("HOTLINE_CALLBACK_AT", str(arrived + 3600)) in set_variables(lines)


def test_callback_route_uses_the_calling_number_when_none_was_keyed(
    sample_config: HotlineConfig,
) -> None:
    ledger = FakeLedger()
    _callback_call(ledger, sample_config, {})
    assert ledger.requests[0][0] == CALLER
    assert ledger.requests[0][5] == "ivr"  # key 9 in the menu, not an overflow


def test_a_refused_number_gets_no_promise(sample_config: HotlineConfig) -> None:
    log = ListCallLog()
    lines = _callback_call(FakeLedger(refuse=True), sample_config, {}, log)
    assert set_variables(lines) == [("HOTLINE_CALLBACK_AT", "")]  # the dialplan: voicemail
    # and the record says voicemail, where the caller went, not the callback offered
    [routed] = log.of(Routed)
    assert (routed.uid, routed.kind, routed.target) == (UID, "voicemail", "hotline")
    assert routed.trace[0] == "callback not taken: refused by the callback ledger: voicemail"


@pytest.mark.parametrize("keyed", ["12", "+", "1" * 40])
def test_a_number_that_is_no_number_leaves_a_voicemail_record(
    sample_config: HotlineConfig, keyed: str
) -> None:
    log, ledger = ListCallLog(), FakeLedger()
    variables = {"HOTLINE_CALLBACK_NUMBER": keyed, "HOTLINE_CALL_ID": UID}
    _callback_call(ledger, sample_config, variables, log)
    assert ledger.requests == []
    [routed] = log.of(Routed)
    assert (routed.uid, routed.kind) == (UID, "voicemail")
    assert routed.trace[0].startswith("callback not taken: number refused (")


def test_a_callback_taken_records_no_second_decision(sample_config: HotlineConfig) -> None:
    log, ledger = ListCallLog(), FakeLedger()
    _callback_call(ledger, sample_config, {"HOTLINE_CALLBACK_NUMBER": "13800000009"}, log)
    assert len(ledger.requests) == 1 and log.of(Routed) == []


def test_a_fastagi_dialog_logs_with_its_call_id() -> None:
    """The server sets the call id for the dialog's task; a handler's error names it."""
    import io

    from ivr.adapters.log import CALL_ID, CallIdFilter, JsonFormatter

    async def boom(agi: AgiChannel) -> None:
        logging.getLogger("ivr.adapters.asterisk.fastagi").warning("inside the handler")
        raise RuntimeError("bug in handler")

    table = RouteTable()
    table.add("hotline", boom)
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.addFilter(CallIdFilter())
    handler.setFormatter(JsonFormatter())
    logger = logging.getLogger("ivr.adapters.asterisk.fastagi")
    logger.addHandler(handler)
    try:
        call(table, FakeAsterisk(), env_block(agi_uniqueid="1700000000.77"))
    finally:
        logger.removeHandler(handler)
    import json

    lines = [json.loads(line) for line in stream.getvalue().splitlines()]
    assert lines, "nothing was logged"
    assert {line["call_id"] for line in lines} == {"1700000000.77"}
    assert CALL_ID.get() == "-"  # the dialog's context did not leak into the caller's


LONG_UID = "1700000000." + "7" * 8000  # as long as an AGI line allows


def _raises(error: Exception) -> RouteTable:
    async def handler(agi: AgiChannel) -> None:
        raise error

    table = RouteTable()
    table.add("hotline", handler)
    return table


@pytest.mark.parametrize(
    ("case", "script", "asterisk"),
    [
        ("handler error", "hotline", lambda: FakeAsterisk()),
        ("unknown route", "nosuch", lambda: FakeAsterisk()),
        ("hang-up", "hotline", lambda: FakeAsterisk(keys=["H"])),
        ("garbled reply", "hotline", lambda: FakeAsterisk(special={0: ["garbage " * 900]})),
        ("refused command", "hotline", lambda: FakeAsterisk(special={0: ["510 " + "x" * 8000]})),
        ("odd variable", "overflow", lambda: FakeAsterisk(variables={"HOTLINE_QUEUE": "a b"})),
        ("refused number", "callback", lambda: FakeAsterisk(variables={"HOTLINE_QUEUE": "x"})),
        ("missing prompt", "hotline", lambda: FakeAsterisk(missing={"hotline/zh-CN/welcome"})),
    ],
)
def test_log_lines_quote_a_callers_long_uid_cut(
    sample_config: HotlineConfig,
    calllog: ListCallLog,
    caplog: pytest.LogCaptureFixture,
    case: str,
    script: str,
    asterisk: Callable[[], FakeAsterisk],
) -> None:
    """The uid (up to 8 KB) was quoted whole in every warning of the dialog: one odd
    call could write megabytes of log. A line names the call by the uid's start."""
    h = handlers(sample_config, calllog)
    h.callbacks = FakeLedger()  # type: ignore[assignment]
    routes = _raises(RuntimeError("bug")) if case == "handler error" else h.routes()
    with caplog.at_level(logging.DEBUG, logger="ivr"):
        env = env_block(agi_uniqueid=LONG_UID, agi_network_script=script, agi_callerid="12")
        call(routes, asterisk(), env)
    messages = [r.getMessage() for r in caplog.records if r.name.startswith("ivr")]
    assert messages, f"{case}: nothing logged"
    assert any(LONG_UID[:40] in m for m in messages), messages
    assert all(len(m) < 600 for m in messages), [len(m) for m in messages]


# --- under abuse: deadlines, line limit, the cap (issue 9) ----------------------------------


async def _with_server(
    routes: RouteTable, limits: FastAgiLimits, scenario: Callable[[int], Awaitable[T]]
) -> T:
    server = FastAgiServer(routes, port=0, limits=limits)
    await server.start()
    try:
        return await asyncio.wait_for(scenario(server.port), timeout=10)
    finally:
        await server.stop()


async def _until_closed(reader: asyncio.StreamReader) -> tuple[bytes, float]:
    """Everything the server still writes, and when it hung up (monotonic). A server
    that hangs up with bytes of ours unread may be answered with a reset instead of an
    EOF (the kernel's choice): that is a hang-up too, what came before it lost."""
    try:
        data = await reader.read()
    except ConnectionResetError:
        data = b""
    return data, time.monotonic()


async def _hold(port: int, first: bytes = b"") -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(first)
    await writer.drain()
    return reader, writer


def _close(*writers: asyncio.StreamWriter) -> None:
    for w in writers:
        w.close()


def test_a_silent_connection_is_closed_after_the_environment_timeout(routes: RouteTable) -> None:
    async def scenario(port: int) -> tuple[bytes, float, list[str]]:
        start = time.monotonic()
        reader, writer = await _hold(port)
        data, closed = await _until_closed(reader)
        _close(writer)
        after = await _converse(port, env_block(), FakeAsterisk(keys=["1"]))
        return data, closed - start, after

    data, took, after = asyncio.run(
        _with_server(routes, FastAgiLimits(env_timeout_seconds=0.4), scenario)
    )
    assert data == b"" and 0.35 < took < 2.0
    assert set_variables(after)[-1] == ("HOTLINE_ROUTE_KIND", "queue")  # the next call is served


def test_a_dribbled_environment_is_closed_at_the_deadline(routes: RouteTable) -> None:
    async def scenario(port: int) -> float:
        start = time.monotonic()
        reader, writer = await _hold(port, b"a")
        with contextlib.suppress(ConnectionError):
            for byte in env_block()[1:]:  # one byte every 20 ms: 14 s for the whole block
                if reader.at_eof():
                    break
                writer.write(bytes([byte]))
                await writer.drain()
                await asyncio.sleep(0.02)
        await _until_closed(reader)
        _close(writer)
        return time.monotonic() - start

    took = asyncio.run(_with_server(routes, FastAgiLimits(env_timeout_seconds=0.5), scenario))
    assert 0.45 < took < 2.0


def test_a_reply_that_never_comes_ends_in_the_fallback(
    routes: RouteTable, calllog: ListCallLog
) -> None:
    async def scenario(port: int) -> tuple[bytes, bytes]:
        reader, writer = await _hold(port, env_block())
        first = await reader.readline()  # GET DATA: never answered
        rest, _ = await _until_closed(reader)
        _close(writer)
        return first, rest

    first, rest = asyncio.run(
        _with_server(routes, FastAgiLimits(reply_timeout_seconds=0.3), scenario)
    )
    assert first.startswith(b"GET DATA")
    assert rest == FALLBACK.encode()  # written, not waited for; then the server hung up
    assert not calllog.of(Routed)


def test_an_oversized_environment_line_closes_the_connection_quietly(
    routes: RouteTable, caplog: pytest.LogCaptureFixture
) -> None:
    async def scenario(port: int) -> tuple[bytes, list[str]]:
        reader, writer = await _hold(port, env_block(agi_calleridname="A" * 20_000))
        data, _ = await _until_closed(reader)
        _close(writer)
        return data, await _converse(port, env_block(), FakeAsterisk(keys=["1"]))

    with caplog.at_level(logging.INFO):
        data, after = asyncio.run(
            _with_server(routes, FastAgiLimits(max_line_bytes=8192), scenario)
        )
    assert data == b""  # no command was sent: AGISTATUS=FAILURE, the dialplan's fallback
    assert set_variables(after)[-1] == ("HOTLINE_ROUTE_KIND", "queue")
    assert any("over 8192 bytes" in r.getMessage() for r in caplog.records)
    assert not any(r.exc_info for r in caplog.records)


@pytest.mark.parametrize("value", [b"", b"v" * 4000], ids=["many-lines", "many-bytes"])
def test_an_environment_that_never_ends_is_closed_without_keeping_it(
    routes: RouteTable, caplog: pytest.LogCaptureFixture, value: bytes
) -> None:
    """Lines under the limit, no blank line: the block is refused once it is longer than
    any Asterisk sends, not held until its deadline with every line kept."""

    async def scenario(port: int) -> tuple[bytes, float, list[str]]:
        start = time.monotonic()
        reader, writer = await _hold(port)
        sent = 0
        with contextlib.suppress(ConnectionError):
            while not reader.at_eof() and time.monotonic() - start < 3:
                writer.write(b"".join(b"k%d: %s\n" % (sent + i, value) for i in range(50)))
                sent += 50
                await writer.drain()
                await asyncio.sleep(0)
        data, closed = await _until_closed(reader)
        _close(writer)
        return data, closed - start, await _converse(port, env_block(), FakeAsterisk(keys=["1"]))

    with caplog.at_level(logging.INFO):
        data, took, after = asyncio.run(
            _with_server(routes, FastAgiLimits(env_timeout_seconds=5), scenario)
        )
    assert data == b"" and took < 2.0  # closed long before the 5 s deadline
    assert set_variables(after)[-1] == ("HOTLINE_ROUTE_KIND", "queue")
    assert any("AGI environment over 256 lines" in r.getMessage() for r in caplog.records)
    assert not any(r.exc_info for r in caplog.records)


def test_an_environment_with_as_many_arguments_as_asterisk_passes_is_read(
    routes: RouteTable,
) -> None:
    args = {f"agi_arg_{n}": "a" * 40 for n in range(1, 128)}  # Asterisk's MAX_ARGS - 1
    lines = call(routes, FakeAsterisk(keys=["1"]), env_block(**args))
    assert set_variables(lines[1:])[-1] == ("HOTLINE_ROUTE_KIND", "queue")


def test_a_garbled_reply_ends_the_dialog_in_the_fallback(
    routes: RouteTable, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.INFO):
        lines = call(routes, FakeAsterisk(keys=["1"], special={0: ["garbage"]}))
    assert lines == ['GET DATA "hotline/zh-CN/welcome" "5000" "1"\n', FALLBACK]
    assert not any(r.exc_info for r in caplog.records)  # a warning, not a traceback


def test_an_oversized_reply_ends_the_dialog_quietly(
    routes: RouteTable, calllog: ListCallLog, caplog: pytest.LogCaptureFixture
) -> None:
    async def scenario(port: int) -> tuple[bytes, bytes]:
        reader, writer = await _hold(port, env_block())
        first = await reader.readline()
        writer.write(b"200 result=1 (" + b"x" * 20_000 + b")\n")
        rest = b""
        with contextlib.suppress(ConnectionError):  # the server may hang up mid-line: a reset
            await writer.drain()
            rest, _ = await _until_closed(reader)
        _close(writer)
        return first, rest

    with caplog.at_level(logging.INFO):
        first, rest = asyncio.run(_with_server(routes, FastAgiLimits(), scenario))
    assert first.startswith(b"GET DATA")
    # The route is cleared (or, if the reset came first, never set): the fallback either way.
    assert rest in (FALLBACK.encode(), b"")
    assert not calllog.of(Routed)
    assert any("length limit" in r.getMessage() for r in caplog.records)
    assert not any(r.exc_info for r in caplog.records)


def test_at_the_cap_an_idle_connection_makes_room_for_a_call(routes: RouteTable) -> None:
    async def scenario(port: int) -> tuple[list[str], list[bytes]]:
        idle = [await _hold(port) for _ in range(2)]
        await asyncio.sleep(0.05)
        lines = await _converse(port, env_block(), FakeAsterisk(keys=["1"]))
        first, _ = await asyncio.wait_for(_until_closed(idle[0][0]), timeout=2)  # shed
        _close(*(w for _, w in idle))
        return lines, [first]

    lines, shed = asyncio.run(
        _with_server(routes, FastAgiLimits(max_dialogs=2, env_timeout_seconds=30), scenario)
    )
    assert set_variables(lines)[-1] == ("HOTLINE_ROUTE_KIND", "queue")
    assert shed == [b""]


def test_at_the_cap_with_every_slot_in_a_dialog_a_new_connection_is_closed_at_once(
    routes: RouteTable, caplog: pytest.LogCaptureFixture
) -> None:
    async def scenario(port: int) -> tuple[bytes, float]:
        calls = [await _hold(port, env_block()) for _ in range(2)]
        for reader, _ in calls:
            await reader.readline()  # each is in its dialog (GET DATA, unanswered)
        start = time.monotonic()
        reader, writer = await _hold(port, env_block())
        data, closed = await _until_closed(reader)
        _close(writer, *(w for _, w in calls))
        return data, closed - start

    with caplog.at_level(logging.WARNING):
        data, took = asyncio.run(_with_server(routes, FastAgiLimits(max_dialogs=2), scenario))
    assert data == b"" and took < 0.5
    assert any("its cap" in r.getMessage() for r in caplog.records)


def test_repeated_warnings_are_counted_not_logged(caplog: pytest.LogCaptureFixture) -> None:
    now = [100.0]
    quiet = LogLimiter(logging.getLogger("test.quiet"), every=10, clock=lambda: now[0])
    with caplog.at_level(logging.WARNING, logger="test.quiet"):
        for _ in range(1000):
            quiet.warning("emfile", "cannot accept")
        quiet.warning("other", "something else")
        now[0] += 10
        quiet.warning("emfile", "cannot accept")
        quiet.warning("emfile", "cannot accept")
        quiet.flush()
    assert [r.getMessage() for r in caplog.records] == [
        "cannot accept",
        "something else",
        "cannot accept (999 more like this not logged)",
        "cannot accept (1 more like this not logged)",
    ]


@pytest.mark.parametrize(
    "keyed",
    ['138"; DROP', "1" * 300, "12", "+", "１３８００００００００９", "138 0000 0009", "+86+138000"],
    ids=["injection", "300-digits", "too-short", "plus-only", "fullwidth", "spaces", "two-plus"],
)
def test_a_malformed_callback_number_is_refused_and_not_logged(
    sample_config: HotlineConfig, keyed: str, caplog: pytest.LogCaptureFixture
) -> None:
    ledger = FakeLedger()
    with caplog.at_level(logging.INFO):
        lines = _callback_call(ledger, sample_config, {"HOTLINE_CALLBACK_NUMBER": keyed})
    assert ledger.requests == []
    assert set_variables(lines) == [("HOTLINE_CALLBACK_AT", "")]  # the dialplan: voicemail
    refused = [
        r.getMessage() for r in caplog.records if "callback number refused" in r.getMessage()
    ]
    assert len(refused) == 1 and keyed not in refused[0]


def test_an_international_callback_number_is_accepted(sample_config: HotlineConfig) -> None:
    ledger = FakeLedger()
    _callback_call(ledger, sample_config, {"HOTLINE_CALLBACK_NUMBER": "+8613800000009"})
    assert ledger.requests[0][0] == "+8613800000009"


def test_channel_variables_of_an_unexpected_form_are_ignored(
    sample_config: HotlineConfig,
) -> None:
    ledger = FakeLedger()
    _callback_call(ledger, sample_config, {
        "HOTLINE_CALLBACK_NUMBER": "13800000009", "HOTLINE_LANG": "../../../etc/passwd",
        "HOTLINE_QUEUE": "x" * 500, "HOTLINE_CALL_ID": "1.2 EXEC Dial", "HOTLINE_ARRIVED": "9" * 30,
    })  # fmt: skip
    number, language, branch, at, uid, source = ledger.requests[0]
    assert (number, language, branch, uid) == ("13800000009", "zh-CN", "menu", UID)
    assert at == MONDAY_10  # not a time from the variable: the clock's


def test_overflow_ignores_a_tampered_language(routes: RouteTable, calllog: ListCallLog) -> None:
    asterisk = FakeAsterisk(variables={"HOTLINE_QUEUE": "enquiries", "HOTLINE_LANG": "en/../x"})
    lines = call(routes, asterisk, env_block(agi_network_script="overflow"))
    assert ("HOTLINE_LANG", "zh-CN") in set_variables(lines)


def test_a_flood_of_bad_requests_logs_a_few_lines(
    routes: RouteTable, caplog: pytest.LogCaptureFixture
) -> None:
    async def bad(port: int, first: bytes) -> None:
        reader, writer = await _hold(port, first)
        with contextlib.suppress(ConnectionError):
            while line := await reader.readline():
                writer.write(b"200 result=1\n" if line else b"")
        _close(writer)

    async def scenario(port: int) -> None:
        for first in (b"no colon here\n", env_block(agi_network_script="nosuch"), b"x" * 9000):
            await asyncio.gather(*(bad(port, first) for _ in range(100)))

    with caplog.at_level(logging.INFO, logger="ivr.adapters.asterisk.fastagi"):
        asyncio.run(_with_server(routes, FastAgiLimits(), scenario))
    messages = [r.getMessage() for r in caplog.records if r.levelno >= logging.WARNING]
    assert 3 <= len(messages) <= 6, messages  # one line per kind, the rest counted
    assert any("unknown FastAGI route 'nosuch'" in m for m in messages)


def test_at_the_cap_a_call_not_yet_read_is_kept_and_the_newcomer_refused(
    routes: RouteTable,
) -> None:
    """Under load the loop may accept faster than it reads: a connection whose
    environment is already waiting is a call, never shed as idle."""

    async def scenario() -> tuple[bytes, bytes]:
        server = FastAgiServer(routes, port=0, limits=FastAgiLimits(max_dialogs=1))
        await server.start()
        call_end, asterisk = socket.socketpair()
        late_end, late_peer = socket.socketpair()
        try:
            asterisk.sendall(env_block())
            call_end.setblocking(False)
            late_end.setblocking(False)
            server._admit(call_end)  # not read yet: the loop has not run
            server._admit(late_end)  # at the cap, nothing idle: refused at once
            late_peer.settimeout(2)
            refused = late_peer.recv(100)
            asterisk.setblocking(False)
            reader, writer = await asyncio.open_connection(sock=asterisk)
            first = await asyncio.wait_for(reader.readline(), timeout=5)
            writer.close()
            return refused, first
        finally:
            await server.stop()
            late_peer.close()
            asterisk.close()  # a no-op when the stream above closed it

    refused, first = asyncio.run(scenario())
    assert refused == b""
    assert first == b'GET DATA "hotline/zh-CN/welcome" "5000" "1"\n'


# --- confidentiality (REQUIREMENTS §7, issue 9 class 10) ------------------------------


def test_no_full_caller_number_in_the_log_of_fastagi_calls(
    sample_config: HotlineConfig, caplog: pytest.LogCaptureFixture
) -> None:
    """Every log line of a menu call, a hang-up, callbacks (kept and refused) and a
    broken presence source, at the most verbose level: never a full number."""
    caplog.set_level(logging.DEBUG)
    log = ListCallLog()
    call(handlers(sample_config, log).routes(), FakeAsterisk(keys=["1"]))
    call(handlers(sample_config, log).routes(), FakeAsterisk(keys=["H"]))
    call(handlers(sample_config, log, BrokenPresence()).routes(), FakeAsterisk(keys=["1"]))
    keyed = {"HOTLINE_CALLBACK_NUMBER": "13800000009", "HOTLINE_CALL_ID": UID}
    _callback_call(FakeLedger(), sample_config, keyed)
    _callback_call(FakeLedger(refuse=True), sample_config, keyed)
    _callback_call(FakeLedger(refuse=True), sample_config, {})
    assert any(isinstance(e, CallStarted) and e.caller == CALLER for e in log.events)
    assert caplog.records, "the calls logged nothing: the check would be empty"
    assert CALLER not in caplog.text and "13800000009" not in caplog.text


def test_hash_as_an_option_is_a_key_not_the_end_of_input(
    config_dir: Path, calllog: ListCallLog
) -> None:
    # GET DATA takes '#' for the end of input and answers it, pressed first, with an
    # empty result (no "(timeout)"): a menu offering '#' routes it, in one round trip.
    edit(config_dir, "menu.yaml", '"*": repeat', '"*": repeat\n      "#": route:repairs')
    routes = handlers(load_config(config_dir, env={}), calllog).routes()
    lines = call(routes, FakeAsterisk(keys=["#"]))
    assert lines[0] == 'GET DATA "hotline/zh-CN/welcome" "5000" "1"\n'
    assert ("HOTLINE_ROUTE_TARGET", "repairs") in set_variables(lines)
    steps = calllog.of(MenuStep)
    assert [s.event for s in steps] == ["start", "key"] and steps[-1].key == "#"
    # and a silence is still a silence
    calllog.events.clear()
    lines = call(routes, FakeAsterisk(keys=["T", "#"]))
    assert [s.event for s in calllog.of(MenuStep)] == ["start", "timeout", "key"]


def test_a_menu_without_hash_keeps_one_round_trip_a_prompt(routes: RouteTable) -> None:
    lines = call(routes, FakeAsterisk(keys=["1"]))
    assert lines[0].startswith('GET DATA "hotline/zh-CN/welcome"')
    assert not any(line.startswith("WAIT FOR DIGIT") for line in lines)


class EveryonesHistory:
    """A call history that answers for any number, as the call log does for the
    number no-number callers share (''): who answered the last such call."""

    def __init__(self) -> None:
        self.asked: list[str] = []

    def previous_agent(self, caller: str, since: datetime) -> str | None:
        self.asked.append(caller)
        return "chen"  # on duty at seat2 on Monday 10:00


@pytest.mark.parametrize(
    "callerid", ["unknown", "", "anonymous", "Anonymous", "Restricted", "<unknown>", "+"]
)
def test_a_caller_without_a_number_is_nobodys_repeat_caller(
    sample_config: HotlineConfig, calllog: ListCallLog, callerid: str
) -> None:
    history = EveryonesHistory()
    h = handlers(sample_config, calllog)
    h.deps = replace(h.deps, history=history)
    lines = call(h.routes(), FakeAsterisk(keys=["1"]), env_block(agi_callerid=callerid))
    assert dict(set_variables(lines[1:]))["HOTLINE_ROUTE_KIND"] == "queue"
    assert history.asked == []
    assert not any("first-contact" in t for t in calllog.of(Routed)[0].trace)


def test_a_caller_with_a_number_is_still_a_repeat_caller(
    sample_config: HotlineConfig, calllog: ListCallLog
) -> None:
    history = EveryonesHistory()
    h = handlers(sample_config, calllog)
    h.deps = replace(h.deps, history=history)
    lines = call(h.routes(), FakeAsterisk(keys=["1"]))
    assert set_variables(lines[1:])[-1] == ("HOTLINE_ROUTE_KIND", "seat")
    assert history.asked == [CALLER]
