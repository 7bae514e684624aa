"""Callers who hang up in the first second after answer, through the real
sandbox Asterisk, on SQLite and PostgreSQL: each leaves exactly one record,
abandoned in the menu, whether or not the FastAGI dialog had started.

Asterisk's Answer() waits up to 500 ms for the caller's media, and SIPp sends
none, so at 100 and 300 ms the caller is gone before the dialplan reaches the
AGI; at 700 ms the FastAGI dialog has usually begun. The record comes from the
AMI Hangup alone in the first cases, and from both in the last.
"""

from __future__ import annotations

import itertools
from datetime import timedelta

import pytest
from e2e_stack import WEEKDAY_10, Stack

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
