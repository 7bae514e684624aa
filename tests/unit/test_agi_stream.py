"""AgiStream, the FastAGI connection's protocol: lines from any chunking, the
line limit, flow control, and deadlines kept with one timer per connection.

The stream is driven here as asyncio drives it (connection_made, data_received,
eof_received, connection_lost) with a transport that records what it is told;
tests/unit/test_fastagi.py runs it over real sockets.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Coroutine
from typing import Any, TypeVar

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ivr.adapters.asterisk.agi import AgiHangup, AgiLineTooLong, AgiTimeout, parse_env
from ivr.adapters.asterisk.agi_channel import AgiChannel, AgiStream

T = TypeVar("T")
PROPERTY = settings(deadline=None, derandomize=True, database=None, max_examples=150)

ENV = (
    b"agi_network: yes\n"
    b"agi_network_script: hotline\n"
    b"agi_channel: PJSIP/anonymous-00000002\n"
    b"agi_uniqueid: 1732330800.2\n"
    b"agi_callerid: 13800000001\n"
    b"agi_calleridname: Alice\n"
    b"agi_extension: 4000\n"
    b"\n"
)


class Transport(asyncio.Transport):
    """What the stream tells its transport, recorded."""

    def __init__(self) -> None:
        super().__init__()
        self.written = bytearray()
        self.calls: list[str] = []
        self.closing = False

    def write(self, data: bytes | bytearray | memoryview) -> None:
        self.written += data

    def pause_reading(self) -> None:
        self.calls.append("pause")

    def resume_reading(self) -> None:
        self.calls.append("resume")

    def close(self) -> None:
        self.closing = True

    def is_closing(self) -> bool:
        return self.closing


def run(body: Callable[[], Coroutine[Any, Any, T]]) -> T:
    return asyncio.run(body())


def connected(limit: int = 8192) -> tuple[AgiStream, Transport]:
    stream, transport = AgiStream(limit), Transport()
    stream.connection_made(transport)
    return stream, transport


async def answered(stream: AgiStream, request: Coroutine[Any, Any, T], reply: bytes) -> T:
    """Start `request` (it writes its command), then the peer's `reply` comes."""
    task = asyncio.ensure_future(request)
    await asyncio.sleep(0)
    stream.data_received(reply)
    return await task


async def seconds_to_timeout(agi: AgiChannel, match: str | None = None) -> float:
    """How long a command no one answers takes to end in AgiTimeout."""
    start = time.monotonic()
    with pytest.raises(AgiTimeout, match=match):
        await agi.send(b"ANSWER\n")
    return time.monotonic() - start


def chunks(data: bytes, cuts: list[int]) -> list[bytes]:
    points = sorted({c % (len(data) + 1) for c in cuts} | {0, len(data)})
    return [data[a:b] for a, b in zip(points, points[1:], strict=False)]


# --- lines -----------------------------------------------------------------------------


@PROPERTY
@given(st.lists(st.integers(min_value=0), max_size=40), st.booleans())
def test_the_environment_reads_the_same_however_it_is_cut(cuts: list[int], crlf: bool) -> None:
    """Asterisk writes the block a line per write(): it arrives in any number of parts."""
    block = ENV.replace(b"\n", b"\r\n") if crlf else ENV

    async def body() -> dict[str, str]:
        stream, _ = connected()
        agi = AgiChannel(stream, env_timeout=5)
        reading = asyncio.ensure_future(agi.read_env())
        for part in chunks(block, cuts):
            await asyncio.sleep(0)
            stream.data_received(part)
        await reading
        return agi.env

    assert run(body) == parse_env(ENV.decode())


@pytest.mark.parametrize("whole", [True, False], ids=["whole", "in-parts"])
def test_a_line_of_the_limit_is_read_and_one_byte_more_is_too_long(whole: bool) -> None:
    limit = 64

    async def read(data: bytes) -> bytes:
        stream, _ = connected(limit)
        agi = AgiChannel(stream)
        reading = asyncio.ensure_future(agi._readline())
        for part in [data] if whole else [data[:10], data[10:40], data[40:]]:
            await asyncio.sleep(0)
            stream.data_received(part)
        return await reading

    assert run(lambda: read(b"x" * limit + b"\n")) == b"x" * limit + b"\n"
    with pytest.raises(AgiLineTooLong, match="64 bytes"):
        run(lambda: read(b"x" * (limit + 1) + b"\n"))
    with pytest.raises(AgiLineTooLong):  # no newline at all: too long before it ends
        run(lambda: read(b"x" * (limit + 1)))


def test_the_end_of_the_stream_gives_what_is_left_then_nothing() -> None:
    async def body() -> list[bytes | None]:
        stream, _ = connected()
        stream.data_received(b"200 result=1\npartial")
        stream.eof_received()
        return [stream.next_line(), stream.next_line(), stream.next_line()]

    assert run(body) == [b"200 result=1\n", b"partial", b""]


def test_a_reset_is_raised_once_the_whole_lines_are_read() -> None:
    async def body() -> tuple[bytes | None, type[BaseException]]:
        stream, _ = connected()
        stream.data_received(b"200 result=0\n")
        stream.connection_lost(ConnectionResetError("reset by peer"))
        first = stream.next_line()
        with pytest.raises(ConnectionResetError) as raised:
            stream.next_line()
        return first, raised.type

    assert run(body) == (b"200 result=0\n", ConnectionResetError)


def test_a_closed_connection_before_the_environment_is_a_hangup() -> None:
    async def body() -> None:
        stream, _ = connected()
        stream.data_received(b"agi_network: yes\n")
        stream.eof_received()
        await AgiChannel(stream, env_timeout=5).read_env()

    with pytest.raises(AgiHangup):
        run(body)


def test_reading_pauses_over_twice_the_limit_and_resumes_once_read() -> None:
    async def body() -> list[str]:
        stream, transport = connected(limit=16)
        stream.data_received(b"0123456789\n" * 3)  # 33 bytes > 32
        assert transport.calls == ["pause"]
        stream.next_line()  # 22 left: still over the limit
        assert transport.calls == ["pause"]
        stream.next_line()  # 11 left
        return transport.calls

    assert run(body) == ["pause", "resume"]


def test_a_command_is_written_and_its_reply_read() -> None:
    async def body() -> tuple[bytes, str]:
        stream, transport = connected()
        agi = AgiChannel(stream, reply_timeout=5)
        value = await answered(stream, agi.get_variable("HOTLINE_QUEUE"), b"200 result=1 (q)\n")
        return bytes(transport.written), value

    assert run(body) == (b'GET VARIABLE "HOTLINE_QUEUE"\n', "q")


def test_a_paused_transport_is_waited_for_within_the_deadline() -> None:
    async def body() -> None:
        stream, _ = connected()
        stream.pause_writing()
        stream.arm(0.05, "AGI reply")
        await stream.drain()

    with pytest.raises(AgiTimeout, match="no complete AGI reply within 0.05 s"):
        run(body)


# --- deadlines ---------------------------------------------------------------------------


def test_a_reply_that_never_comes_times_out_at_its_deadline() -> None:
    async def body() -> float:
        stream, _ = connected()
        return await seconds_to_timeout(AgiChannel(stream, reply_timeout=0.2), "reply within 0.2 s")

    assert 0.18 < run(body) < 1.0


def test_a_shorter_deadline_after_a_longer_one_is_kept() -> None:
    """The timer set for the environment (long) is moved up for a shorter reply deadline."""

    async def body() -> float:
        stream, _ = connected()
        agi = AgiChannel(stream, env_timeout=30, reply_timeout=0.1)
        stream.data_received(ENV)
        await agi.read_env()
        return await seconds_to_timeout(agi)

    assert 0.08 < run(body) < 1.0


def test_a_deadline_moved_on_is_not_missed_nor_early() -> None:
    """A first short wait sets the timer; the next, later deadline fires when it is due."""

    async def body() -> float:
        stream, _ = connected()
        agi = AgiChannel(stream, reply_timeout=0.15)
        first = asyncio.ensure_future(agi.send(b"ANSWER\n"))
        await asyncio.sleep(0.1)
        stream.data_received(b"200 result=0\n")
        await first
        return await seconds_to_timeout(agi)  # 0.15 s from now, not from the first's start

    assert 0.13 < run(body) < 1.0


def test_no_deadline_runs_between_commands() -> None:
    """The handler's own waits (a recogniser, say) are not the peer's: no timeout there."""

    async def body() -> str:
        stream, _ = connected()
        agi = AgiChannel(stream, reply_timeout=0.05)
        await answered(stream, agi.get_variable("A"), b"200 result=1 (a)\n")
        await asyncio.sleep(0.15)  # three reply deadlines, with no command in flight
        return await answered(stream, agi.get_variable("B"), b"200 result=1 (b)\n")

    assert run(body) == "b"


def test_a_dialog_schedules_one_timer_not_one_per_command(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    async def body() -> int:
        loop = asyncio.get_running_loop()
        scheduled: list[float] = []
        call_at = loop.call_at

        def counting(when: float, callback: Any, *args: Any, **kw: Any) -> asyncio.TimerHandle:
            scheduled.append(when)
            return call_at(when, callback, *args, **kw)

        monkeypatch.setattr(loop, "call_at", counting)
        stream, _ = connected()
        agi = AgiChannel(stream, env_timeout=5, reply_timeout=120)
        stream.data_received(ENV)
        await agi.read_env()
        for _ in range(20):
            await answered(stream, agi.get_variable("X"), b"200 result=1 (x)\n")
        stream.close()
        return len(scheduled)

    assert run(body) == 1


def test_closing_the_stream_cancels_its_timer() -> None:
    async def body() -> bool:
        stream, transport = connected()
        stream.arm(60, "AGI reply")
        timer = stream._timer
        stream.close()
        assert transport.closing
        return timer is not None and timer.cancelled()

    assert run(body)
