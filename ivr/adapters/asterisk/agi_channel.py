"""One AGI conversation over a connection, and the route table of FastAGI entry points.

The channel only moves bytes and keeps time: the environment block and each
reply have a deadline, and a line over the stream's limit is an error of its
own (AgiLineTooLong), never a bare ValueError. Parsing is in agi.py.

`AgiStream` is the connection's protocol: a buffer of lines in, commands out,
and one deadline. It is leaner than asyncio's StreamReader/StreamWriter pair
for this dialog, which under load is most of what the service does per call:
the environment block's lines are taken from the buffer without a coroutine
per line, and a deadline is a time kept on the stream, checked by one timer
per connection that is moved only when it fires early, instead of a timer
scheduled and cancelled around every command.
"""

from __future__ import annotations

import asyncio
import logging
import re
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from typing import cast

from ivr.adapters.asterisk.agi import (
    AgiError,
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
from ivr.domain.text import logged

log = logging.getLogger(__name__)

Handler = Callable[["AgiChannel"], Awaitable[None]]
KEYS = "0123456789*#"  # escape digits: any key interrupts a prompt
# What MSet takes verbatim: it splits on ',' and '=' and strips quotes and backslashes.
_PLAIN = re.compile(r"[A-Za-z0-9_./:@+-]*")
# The environment block's bounds: Asterisk sends two dozen lines (and an agi_arg_N
# line per argument, at most 127), well under 8 KiB. Lines alone are bounded by the
# stream's limit; without these, a peer could send lines until the block's deadline
# and the environment would keep them all.
MAX_ENV_LINES = 256
ENV_LIMIT_LINES = 8  # the block's bytes: at most this many times the line limit


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


class AgiStream(asyncio.Protocol):
    """The bytes of one FastAGI connection: lines in, commands out, one deadline.

    A line longer than `limit` (not counting its newline) is AgiLineTooLong.
    Reading pauses while more than twice `limit` is buffered. `arm()` sets the
    deadline of what the dialog waits for next; past it, the wait ends in
    AgiTimeout; `disarm()` lifts it.
    """

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self._loop = asyncio.get_running_loop()
        self._buf = bytearray()
        self._transport: asyncio.Transport | None = None
        self._eof = False
        self._error: BaseException | None = None
        self._read_paused = False
        self._write_paused = False
        self._waiter: asyncio.Future[None] | None = None  # the dialog waiting (bytes, room)
        self._closed: asyncio.Future[None] = self._loop.create_future()
        self._deadline: float | None = None
        self._timer: asyncio.TimerHandle | None = None
        self._expired = False
        self._what = ""
        self._seconds = 0.0

    # -- asyncio.Protocol ---------------------------------------------------------------

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self._transport = cast(asyncio.Transport, transport)  # a socket's: reads and writes

    def data_received(self, data: bytes) -> None:
        self._buf += data
        if len(self._buf) > 2 * self.limit and not self._read_paused and self._transport:
            self._transport.pause_reading()
            self._read_paused = True
        self._wake()

    def eof_received(self) -> bool:
        self._eof = True
        self._wake()
        return True  # keep the writing side: the fallback's route may still be written

    def connection_lost(self, exc: Exception | None) -> None:
        self._eof = True
        if exc is not None:
            self._error = exc
        self._write_paused = False
        self._wake()
        self._cancel_timer()
        if not self._closed.done():
            self._closed.set_result(None)

    def pause_writing(self) -> None:
        self._write_paused = True

    def resume_writing(self) -> None:
        self._write_paused = False
        self._wake()

    # -- the dialog's side ---------------------------------------------------------------

    def next_line(self) -> bytes | None:
        """The next whole line from the buffer, None when it has none yet; at the
        end of the stream, what is left (b"" when nothing)."""
        buf = self._buf
        end = buf.find(b"\n")
        if (end if end >= 0 else len(buf)) > self.limit:
            raise AgiLineTooLong(f"AGI line over the length limit ({self.limit} bytes)")
        if end < 0:
            if self._error is not None:
                raise self._error
            if not self._eof:
                return None
            end = len(buf) - 1
        line = bytes(buf[: end + 1])
        del buf[: end + 1]
        if self._read_paused and len(buf) <= self.limit and self._transport is not None:
            self._read_paused = False
            self._transport.resume_reading()
        return line

    async def wait(self) -> None:
        """Until something happens on the connection; AgiTimeout past the deadline."""
        if self._expired:
            raise AgiTimeout(self._timeout_message())
        waiter = self._loop.create_future()
        self._waiter = waiter
        try:
            await waiter
        finally:
            self._waiter = None

    def write(self, data: bytes) -> None:
        if self._transport is None:
            raise ConnectionResetError("AGI connection not made")
        self._transport.write(data)

    async def drain(self) -> None:
        """Until the transport has room again (at once, mostly: commands are small)."""
        while self._write_paused:
            await self.wait()
        if self._error is not None:
            raise self._error

    def arm(self, seconds: float | None, what: str) -> None:
        """What is awaited next must come within `seconds` (None: no deadline)."""
        self._expired = False
        if seconds is None:
            self._deadline = None
            return
        self._deadline = deadline = self._loop.time() + seconds
        self._what, self._seconds = what, seconds
        timer = self._timer
        if timer is None or timer.when() > deadline:
            if timer is not None:
                timer.cancel()
            self._timer = self._loop.call_at(deadline, self._expire)

    def disarm(self) -> None:
        self._deadline = None

    def close(self) -> None:
        self._cancel_timer()
        if self._transport is not None:
            self._transport.close()

    async def wait_closed(self) -> None:
        if self._transport is not None:
            await self._closed

    def _expire(self) -> None:
        self._timer = None
        deadline = self._deadline
        if deadline is None:
            return
        if deadline > self._loop.time():  # moved on since the timer was set
            self._timer = self._loop.call_at(deadline, self._expire)
            return
        self._expired = True
        waiter = self._waiter
        if waiter is not None and not waiter.done():
            waiter.set_exception(AgiTimeout(self._timeout_message()))

    def _timeout_message(self) -> str:
        return f"no complete {self._what} within {self._seconds} s"

    def _wake(self) -> None:
        waiter = self._waiter
        if waiter is not None and not waiter.done():
            waiter.set_result(None)

    def _cancel_timer(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None


@dataclass
class AgiChannel:
    """One AGI conversation over a connection."""

    stream: AgiStream
    env: dict[str, str] = field(default_factory=dict)
    hung_up: bool = False
    env_timeout: float | None = None  # for the whole environment block
    reply_timeout: float | None = None  # for each command's reply
    sent: int = 0  # commands sent: AGI round trips, counted for the benchmarks

    @property
    def uid(self) -> str:
        return self.env.get("agi_uniqueid", "")

    async def read_env(self) -> None:
        stream = self.stream
        stream.arm(self.env_timeout, "AGI environment")
        lines, size, max_size = 0, 0, ENV_LIMIT_LINES * stream.limit
        try:
            while True:
                # _readline's loop, inline: no coroutine for each of the block's lines
                raw = stream.next_line()
                if raw is None:
                    await stream.wait()
                    continue
                if not raw:
                    raise AgiHangup("connection closed before the environment was sent")
                lines, size = lines + 1, size + len(raw)
                if lines > MAX_ENV_LINES or size > max_size:
                    raise AgiError(
                        f"AGI environment over {MAX_ENV_LINES} lines or {max_size} bytes"
                    )
                item = parse_env_line(raw.decode("utf-8", "replace"))
                if item is None:
                    return
                self.env[item[0]] = item[1]
        finally:
            stream.disarm()

    async def send(self, line: bytes) -> AgiResult:
        if self.hung_up:
            raise AgiHangup("the channel has hung up")
        self.sent += 1
        stream = self.stream
        stream.arm(self.reply_timeout, "AGI reply")
        try:
            stream.write(line)
            await stream.drain()
            return await self._reply()
        except OSError as e:  # ConnectionResetError, BrokenPipeError...
            # Reset by the peer (the channel's end of the socket went away): a hang-up,
            # never an error of the handler.
            self.hung_up = True
            raise AgiHangup(f"connection lost: {e}") from None
        finally:
            stream.disarm()

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
        stream = self.stream
        while (raw := stream.next_line()) is None:
            await stream.wait()
        return raw

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
                "call %s: MSet failed (result=%s); setting one by one",
                logged(self.uid),
                logged(res.result),
            )
        for name, value in pairs:
            await self.set_variable(name, value)

    async def get_variable(self, name: str) -> str:
        res = await self.send(command("GET VARIABLE", name))
        return res.data if res.result == "1" else ""

    async def ask(self, prompts: list[str], timeout_ms: int) -> str | None:
        """Play the prompts, any key interrupting; then wait for one key. None on timeout.

        AGI's GET DATA takes one file (it does not split '&' lists), so the
        leading prompts are played with STREAM FILE and the last with GET DATA: one
        round trip a prompt. GET DATA takes '#' for the end of input; pressed first,
        it comes back as an empty result without "(timeout)", read as the key '#'
        (`digit_from_get_data`). A prompt that cannot be played does not end the
        call: it counts as silence, and the flow carries on.
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
            log.error(
                "call %s: could not play %s",
                logged(self.uid),
                logged(line.decode(errors="replace"), 200),
            )
            return None

    async def verbose(self, message: str) -> None:
        await self.send(command("VERBOSE", message, 3))
