"""One AGI conversation over a stream, and the route table of FastAGI entry points.

The channel only moves bytes and keeps time: the environment block and each
reply have a deadline, and a line over the stream's limit is an error of its
own (AgiLineTooLong), never a bare ValueError. Parsing is in agi.py.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import re
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from dataclasses import dataclass, field

from ivr.adapters.asterisk.agi import (
    AgiHangup,
    AgiLineTooLong,
    AgiResult,
    AgiResultFailure,
    AgiTimeout,
    command,
    digit_from_get_data,
    digit_from_wait,
    parse_env_line,
    parse_result,
)

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
    env_timeout: float | None = None  # for the whole environment block
    reply_timeout: float | None = None  # for each command's reply
    sent: int = 0  # commands sent: AGI round trips, counted for the benchmarks

    @property
    def uid(self) -> str:
        return self.env.get("agi_uniqueid", "")

    async def read_env(self) -> None:
        async with _deadline(self.env_timeout, "AGI environment"):
            while True:
                raw = await self._readline()
                if not raw:
                    raise AgiHangup("connection closed before the environment was sent")
                item = parse_env_line(raw.decode("utf-8", "replace"))
                if item is None:
                    return
                self.env[item[0]] = item[1]

    async def send(self, line: bytes) -> AgiResult:
        if self.hung_up:
            raise AgiHangup("the channel has hung up")
        self.sent += 1
        self.writer.write(line)
        async with _deadline(self.reply_timeout, "AGI reply"):
            await self.writer.drain()
            return await self._reply()

    async def _reply(self) -> AgiResult:
        while True:
            raw = await self._readline()
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
            raw = await self._readline()
            if not raw or raw.startswith(b"520 "):
                return

    async def _readline(self) -> bytes:
        try:
            return await self.reader.readline()
        except ValueError as e:  # readline's form of asyncio.LimitOverrunError
            raise AgiLineTooLong(f"AGI line over the length limit: {e}") from None

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

    async def ask(self, prompts: list[str], timeout_ms: int, hash_key: bool = False) -> str | None:
        """Play the prompts, any key interrupting; then wait for one key. None on timeout.

        AGI's GET DATA takes one file (it does not split '&' lists), so the
        leading prompts are played with STREAM FILE and the last with GET DATA.
        GET DATA takes '#' for the end of input, not a key: when '#' is an option
        (`hash_key`) the last prompt too is a STREAM FILE, then WAIT FOR DIGIT (one
        round trip more). A prompt that cannot be played does not end the call: it
        counts as silence, and the flow carries on.
        """
        for prompt in prompts if hash_key else prompts[:-1]:
            res = await self._unless_missing(command("STREAM FILE", prompt, KEYS))
            digit = digit_from_wait(res) if res is not None else None
            if digit:
                return digit
        if hash_key:
            return digit_from_wait(await self.send(command("WAIT FOR DIGIT", timeout_ms)))
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


@contextlib.asynccontextmanager
async def _deadline(seconds: float | None, what: str) -> AsyncIterator[None]:
    try:
        async with asyncio.timeout(seconds):
            yield
    except TimeoutError:
        raise AgiTimeout(f"no complete {what} within {seconds} s") from None
