"""Callers who hang up in the first second after answer, through the real
sandbox Asterisk, on SQLite and PostgreSQL: each leaves exactly one record,
abandoned in the menu, whether or not the FastAGI dialog had started.

Asterisk's Answer() waits up to 500 ms for the caller's media, and SIPp sends
none, so at 100 and 300 ms the caller is gone before the dialplan reaches the
AGI; at 700 ms the FastAGI dialog has usually begun. The record comes from the
AMI Hangup alone in the first cases, and from both in the last.

And a hang-up nobody heard: while the service's AMI link is down, a call ends;
after the reconnect the missed hang-up sweep ends its record (ivr.app.hangups),
and leaves alone a call still on the line.
"""

from __future__ import annotations

import itertools
import socket
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta

import pytest
from e2e_stack import WEEKDAY_10, Stack

from ivr.app.hangups import MISSED_CAUSE
from ivr.domain.calllog import Outcome
from lab.sipp import place_call

pytestmark = pytest.mark.e2e

_numbers = itertools.count(1)


def caller(stack: Stack) -> str:
    return f"1394{0 if stack.backend == 'sqlite' else 1}{next(_numbers):06d}"


@pytest.mark.parametrize("after_ms", [100, 300, 700])
def test_a_caller_hanging_up_right_after_answer_leaves_one_record(
    stack: Stack, after_ms: int
) -> None:
    stack.at(WEEKDAY_10)
    number = caller(stack)
    before = stack.clock()
    result = place_call("", number, hangup_after_ms=after_ms, timeout_s=20)
    after = stack.clock()
    assert result.final_status == 200 and result.hung_up_by == "caller", result
    rec = stack.call_record(number)
    assert rec.outcome is Outcome.ABANDONED_IN_MENU
    assert rec.route_kind is None and rec.answered_at is None
    assert rec.source in ("ami", "fastagi")
    assert rec.ended_at is not None
    # The end is when the hotline heard of the hang-up (the AMI Hangup or the AGI's
    # HANGUP), a moment after SIPp is done: a busy machine may delay it a little.
    assert before <= rec.started_at <= rec.ended_at <= after + timedelta(seconds=2)
    held = (rec.ended_at - rec.started_at).total_seconds()
    assert held <= after_ms / 1000 + 1.0
    if rec.source == "ami":  # started when the channel entered the hotline, before answer
        assert held >= after_ms / 1000 - 0.05, held
    assert stack.calls_from(number) == 1


def closed_port() -> int:
    """A local TCP port nothing listens on (connecting is refused at once)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_until(check: Callable[[], bool], timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            raise AssertionError(f"not {what} after {timeout} s")
        time.sleep(0.1)


def test_a_hang_up_missed_while_ami_was_down_ends_the_record_after_the_reconnect(
    stack: Stack,
) -> None:
    stack.at(WEEKDAY_10)
    link = stack.service.service.link
    gone, staying = caller(stack), caller(stack)
    port = link.port
    link.port = closed_port()
    link.reconnect()
    try:
        wait_until(lambda: not link.connected.is_set(), 10, "disconnected")
        pool = ThreadPoolExecutor(1)
        # Still on the line when the sweep runs: its record must stay open.
        on_line = pool.submit(
            place_call, "1", staying, first_key_delay_ms=1000, hold_ms=30_000, timeout_s=60
        )
        result = place_call("1", gone, first_key_delay_ms=1000, hold_ms=3000, timeout_s=40)
        assert result.ok, result
        unheard = stack.clock()
        rec = stack.call_record(gone, ended=False)
        assert rec.routed_at is not None  # the FastAGI side worked without AMI
        time.sleep(1.0)  # its Hangup is not coming: the link is down
        rec = stack.call_record(gone, ended=False)
        assert rec.ended_at is None and rec.outcome is Outcome.IN_PROGRESS
    finally:
        link.port = port
    wait_until(link.connected.is_set, 20, "reconnected")
    rec = stack.call_record(gone, timeout=30)
    assert rec.hangup_cause == MISSED_CAUSE
    assert rec.ended_at is not None and rec.ended_at >= unheard
    assert rec.outcome is not Outcome.IN_PROGRESS
    assert stack.calls_from(gone) == 1
    assert not on_line.done(), "the long call ended before the sweep could be checked"
    live = stack.call_record(staying, ended=False)
    assert live.ended_at is None, "a call still on the line was ended"
    # Its seat went in use while the link was down; the reconnect read that back.
    seat = stack.seats.seat_of(staying)
    assert seat is not None
    assert stack.runtime.presence_repo.seat_states().get(seat) == "INUSE"
    result = on_line.result()
    pool.shutdown()
    assert result.ok, result
    live = stack.call_record(staying, timeout=30)
    # Its own Hangup, heard over AMI. (Its answer came while the link was down: that
    # is not known, and the record does not claim it.)
    assert live.hangup_cause and live.hangup_cause != MISSED_CAUSE
    assert stack.calls_from(staying) == 1
