"""An asyncio FastAGI server with one explicit route table.

Asterisk connects for `AGI(agi://host:port/<route>)`; the server reads the
environment block, looks the route up and runs its handler. Whatever happens
(unknown route, handler error, hang-up) the request ends in a defined dialplan
outcome: on failure the route variable is cleared, and the dialplan sends the
caller to the fallback context.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import re
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field

from ivr.adapters.asterisk import names
from ivr.adapters.asterisk.agi import (
    AgiError,
    AgiHangup,
    AgiResult,
    AgiResultFailure,
    command,
    digit_from_get_data,
    digit_from_wait,
    parse_env_line,
    parse_result,
)
from ivr.adapters.log import CALL_ID

log = logging.getLogger(__name__)

Handler = Callable[["AgiChannel"], Awaitable[None]]
KEYS = "0123456789*#"  # escape digits: any key interrupts a prompt
# What MSet takes verbatim: it splits on ',' and '=' and strips quotes and backslashes.
_PLAIN = re.compile(r"[A-Za-z0-9_./:@+-]*")


class RouteTable:
    """AGI entry points by name. A duplicate is a start-up error, not a surprise."""

    def __init__(self) -> None:
        self._routes: dict[str, Handler] = {}

    def add(self, name: str, handler: Handler) -> None:
        if name in self._routes:
            raise ValueError(f"FastAGI route {name!r} is already registered")
        self._routes[name] = handler

    def get(self, name: str) -> Handler | None:
        return self._routes.get(name)

    def __contains__(self, name: str) -> bool:
        return name in self._routes


def route_name(env: dict[str, str]) -> str:
    """The route from agi_network_script: 'hotline?x=1' -> 'hotline'.

    >>> route_name({"agi_network_script": "/hotline?lang=en"})
    'hotline'
    """
    script = env.get("agi_network_script", "")
    return script.split("?", 1)[0].strip("/")


@dataclass
class AgiChannel:
    """One AGI conversation over a stream."""

    reader: asyncio.StreamReader
    writer: asyncio.StreamWriter
    env: dict[str, str] = field(default_factory=dict)
    hung_up: bool = False

    @property
    def uid(self) -> str:
        return self.env.get("agi_uniqueid", "")

    async def read_env(self) -> None:
        while True:
            raw = await self.reader.readline()
            if not raw:
                raise AgiHangup("connection closed before the environment was sent")
            item = parse_env_line(raw.decode("utf-8", "replace"))
            if item is None:
                return
            self.env[item[0]] = item[1]

    async def send(self, line: bytes) -> AgiResult:
        if self.hung_up:
            raise AgiHangup("the channel has hung up")
        self.writer.write(line)
        await self.writer.drain()
        while True:
            raw = await self.reader.readline()
            if not raw:
                self.hung_up = True
                raise AgiHangup("connection closed")
            text = raw.decode("utf-8", "replace")
            if text.startswith("HANGUP"):
                # The notice comes before the reply to the command in flight.
                self.hung_up = True
                continue
            if text.startswith("520-"):
                await self._skip_usage()
            try:
                return parse_result(text)
            except AgiResultFailure:
                raise  # maybe a hang-up: the caller of send() decides
            except AgiHangup:
                self.hung_up = True
                raise

    async def _skip_usage(self) -> None:
        while True:
            raw = await self.reader.readline()
            if not raw or raw.startswith(b"520 "):
                return

    async def set_variable(self, name: str, value: str | int) -> None:
        await self.send(command("SET VARIABLE", name, value))

    async def set_variables(self, pairs: Sequence[tuple[str, str]]) -> None:
        """Set several channel variables, in one round trip when every value is plain.

        `EXEC MSet a=1,b=2` costs one command instead of one per variable, which
        under load is most of the time between the decision and the dialplan
        acting on it. A value MSet would mangle (a caller's odd number: commas,
        quotes, spaces) sends the lot as SET VARIABLEs instead, which take any
        value verbatim. In both cases the variables are set in the given order.
        """
        if pairs and all(_PLAIN.fullmatch(n) and _PLAIN.fullmatch(v) for n, v in pairs):
            res = await self.send(command("EXEC", "MSet", ",".join(f"{n}={v}" for n, v in pairs)))
            if res.result == "0":
                return
            log.warning(
                "call %s: MSet failed (result=%s); setting one by one", self.uid, res.result
            )
        for name, value in pairs:
            await self.set_variable(name, value)

    async def get_variable(self, name: str) -> str:
        res = await self.send(command("GET VARIABLE", name))
        return res.data if res.result == "1" else ""

    async def ask(self, prompts: list[str], timeout_ms: int) -> str | None:
        """Play the prompts, any key interrupting; then wait for one key. None on timeout.

        AGI's GET DATA takes one file (it does not split '&' lists), so the
        leading prompts are played with STREAM FILE and the last with GET DATA.
        A prompt that cannot be played does not end the call: it counts as
        silence, and the flow carries on.
        """
        for prompt in prompts[:-1]:
            res = await self._unless_missing(command("STREAM FILE", prompt, KEYS))
            digit = digit_from_wait(res) if res is not None else None
            if digit:
                return digit
        res = await self._unless_missing(command("GET DATA", prompts[-1], timeout_ms, 1))
        return digit_from_get_data(res) if res is not None else None

    async def _unless_missing(self, line: bytes) -> AgiResult | None:
        """Send a playback command; None when it failed on a live channel (missing file)."""
        try:
            return await self.send(line)
        except AgiResultFailure:
            if self.hung_up:  # the HANGUP notice came first
                raise
            await self.send(command("CHANNEL STATUS"))  # raises AgiHangup when dead
            log.error("call %s: could not play %s", self.uid, line.decode(errors="replace"))
            return None

    async def verbose(self, message: str) -> None:
        await self.send(command("VERBOSE", message, 3))


@dataclass
class FastAgiServer:
    routes: RouteTable
    host: str = "127.0.0.1"
    port: int = 4573
    # Pending connections the kernel queues for us. asyncio's default (100) is
    # too small for call bursts: Asterisk then gives up connecting (AGISTATUS
    # FAILURE, the caller goes to the fallback).
    backlog: int = 1024
    _server: asyncio.Server | None = None
    _tasks: set[asyncio.Task[None]] = field(default_factory=set)

    async def start(self) -> None:
        self._server = await asyncio.start_server(
            self._accept, self.host, self.port, backlog=self.backlog
        )
        sock = self._server.sockets[0].getsockname()
        self.port = sock[1]
        log.info("FastAGI listening on %s:%s", self.host, self.port)

    async def stop(self) -> None:
        """Stop listening, end the conversations in flight, then wait for the server.

        Tasks are cancelled before `wait_closed()`, which from Python 3.12.1 on
        waits for open connections too.
        """
        if self._server is not None:
            self._server.close()
        for task in list(self._tasks):
            task.cancel()
        if self._tasks:
            await asyncio.gather(*self._tasks, return_exceptions=True)
        if self._server is not None:
            await self._server.wait_closed()
            self._server = None

    async def _accept(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        if task is not None:
            self._tasks.add(task)
        try:
            await self.serve_one(AgiChannel(reader, writer))
        except asyncio.CancelledError:
            # Server stopping: end this conversation quietly. (Re-raising would make
            # asyncio log the cancelled connection task as an error.)
            log.info("FastAGI conversation cancelled: server stopping")
        finally:
            if task is not None:
                self._tasks.discard(task)
            writer.close()
            with contextlib.suppress(ConnectionError, OSError):
                await writer.wait_closed()

    async def serve_one(self, agi: AgiChannel) -> None:
        try:
            await agi.read_env()
        except (AgiError, ConnectionError, OSError):
            log.warning("FastAGI connection closed before its environment was read")
            return
        CALL_ID.set(agi.uid or "-")  # this dialog's task: every log line names the call
        name = route_name(agi.env)
        handler = self.routes.get(name)
        if handler is None:
            log.error("call %s: unknown FastAGI route %r: fallback", agi.uid, name)
            await _to_fallback(agi)
            return
        try:
            await handler(agi)
        except AgiHangup:
            log.info("call %s: hung up during %s", agi.uid, name)
        except asyncio.CancelledError:
            raise
        except Exception:
            log.exception("call %s: FastAGI route %s failed: fallback", agi.uid, name)
            await _to_fallback(agi)


async def _to_fallback(agi: AgiChannel) -> None:
    """Clear the route so the dialplan sends the caller to the fallback context."""
    with contextlib.suppress(AgiError, ConnectionError, OSError):
        await agi.set_variable(names.VAR_ROUTE_KIND, "")
