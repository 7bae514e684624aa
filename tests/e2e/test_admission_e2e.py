"""Admission control through the real sandbox Asterisk, on SQLite and PostgreSQL:
a caller over the limit hears "all lines are busy", Asterisk hangs up, and the
call has one record with the outcome shed; once a place is free, the next caller
is served normally. Past admission.max_told_busy callers hearing that prompt, the next
is refused before answer (SIP 503) and recorded the same way.

The limit is the dialplan global HOTLINE_MAX_IN_IVR (admission.max_in_ivr), set to
1 here on the running Asterisk and put back afterwards.
"""

from __future__ import annotations

import contextlib
import itertools
import time
from collections.abc import Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any

import pytest
from e2e_stack import WEEKDAY_10, Stack

from ivr.adapters.asterisk import names
from ivr.domain.calllog import Outcome
from lab.sipp import place_call

pytestmark = pytest.mark.e2e

_numbers = itertools.count(1)


def caller(stack: Stack) -> str:
    return f"1395{0 if stack.backend == 'sqlite' else 1}{next(_numbers):06d}"


def in_ivr(stack: Stack) -> int:
    """Callers Asterisk counts in the IVR now (the group the gate counts)."""
    rows = [line.split() for line in stack.sandbox.rx("group show channels").splitlines()]
    return sum(1 for r in rows if r[1:3] == [names.GROUP_IN_IVR, names.GROUP_CATEGORY])


@contextlib.contextmanager
def dialplan_global(stack: Stack, name: str, value: int, configured: int) -> Iterator[None]:
    """A dialplan global set on the running Asterisk, then put back to its configured value."""
    stack.sandbox.rx(f"dialplan set global {name} {value}")
    try:
        yield
    finally:
        stack.sandbox.rx(f"dialplan set global {name} {configured}")


@pytest.fixture
def limit_one(stack: Stack) -> Iterator[None]:
    configured = stack.runtime.config.admission.max_in_ivr
    with dialplan_global(stack, names.GLOBAL_MAX_IN_IVR, 1, configured):
        yield


def hold_in_ivr(pool: ThreadPoolExecutor, stack: Stack, number: str, ms: int) -> Future[Any]:
    """A caller who stays in the menu (no key) for `ms`, once Asterisk counts them in."""
    holding = pool.submit(place_call, "", number, hangup_after_ms=ms, timeout_s=40)
    deadline = time.monotonic() + 15
    while in_ivr(stack) < 1 and time.monotonic() < deadline:
        time.sleep(0.2)
    assert in_ivr(stack) == 1
    return holding


def test_a_caller_over_the_limit_is_told_and_recorded_as_shed(
    stack: Stack, limit_one: None
) -> None:
    stack.at(WEEKDAY_10)
    first, second, third = caller(stack), caller(stack), caller(stack)
    with ThreadPoolExecutor(1) as pool:
        holding = hold_in_ivr(pool, stack, first, 8000)  # in the menu, no key, for 8 s
        # The second hears the busy prompt, then Asterisk hangs up on them.
        shed = place_call("", second, hold_ms=20000, timeout_s=40)
        assert shed.final_status == 200 and shed.hung_up_by == "asterisk", shed
        assert shed.duration_s is not None and shed.duration_s < 15
        held = holding.result()
    assert held.hung_up_by == "caller", held
    rec = stack.call_record(second)
    assert rec.outcome is Outcome.SHED and rec.route_kind is None and rec.answered_at is None
    assert rec.source == "ami" and rec.ended_at is not None
    assert stack.calls_from(second) == 1
    kept = stack.call_record(first)
    assert kept.outcome is Outcome.ABANDONED_IN_MENU and stack.calls_from(first) == 1
    # A place is free again: the next caller is served (routed by key 1).
    served = place_call("1", third, hold_ms=1500, timeout_s=40)
    assert served.final_status == 200, served
    rec3 = stack.call_record(third)
    assert rec3.outcome is not Outcome.SHED and rec3.route_kind is not None
    assert in_ivr(stack) == 0


@pytest.fixture
def told_busy_none(stack: Stack) -> Iterator[None]:
    configured = stack.runtime.config.admission.max_told_busy
    with dialplan_global(stack, names.GLOBAL_MAX_TOLD_BUSY, 0, configured):
        yield


def test_past_the_told_busy_limit_a_caller_is_refused_before_answer_and_recorded(
    stack: Stack, limit_one: None, told_busy_none: None
) -> None:
    stack.at(WEEKDAY_10)
    first, second = caller(stack), caller(stack)
    with ThreadPoolExecutor(1) as pool:
        holding = hold_in_ivr(pool, stack, first, 6000)
        # Nobody may be told busy (limit 0): the INVITE is refused, never answered.
        refused = place_call("", second, hold_ms=20000, timeout_s=40)
        assert refused.final_status == 503, refused
        held = holding.result()
    assert held.hung_up_by == "caller", held
    rec = stack.call_record(second)
    assert rec.outcome is Outcome.SHED and rec.answered_at is None and rec.route_kind is None
    assert rec.hangup_cause.startswith("34 ") and rec.ended_at is not None  # congestion
    assert stack.calls_from(second) == 1


def test_asterisk_weighs_each_branch_queue_by_its_priority(stack: Stack) -> None:
    # An agent in several queues is offered first to the caller of the heavier one.
    for branch in stack.runtime.config.policy.branches.values():
        shown = stack.sandbox.rx(f"queue show {branch.name}")
        assert f"W:{branch.priority}," in shown, shown
