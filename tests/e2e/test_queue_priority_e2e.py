"""Priority across queues, through the real sandbox Asterisk on SQLite and
PostgreSQL: one agent shared by two branches, a caller of each waiting for them;
when the agent is free, the caller of the higher-priority branch is answered
first, though the other has waited longer.

Each branch queue's Asterisk `weight` is its branch priority (repairs 3,
enquiries 1 in the sample). Everyone but liu (enquiries, repairs, emergency) is
away, so liu is the one agent both queues share.
"""

from __future__ import annotations

import itertools
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta

import pytest
from e2e_stack import WEEKDAY_10, Stack

from ivr.domain.calllog import Outcome
from lab.sipp import place_call

pytestmark = pytest.mark.e2e

_numbers = itertools.count(1)
SHARED = "liu"


def caller(stack: Stack) -> str:
    return f"1396{0 if stack.backend == 'sqlite' else 1}{next(_numbers):06d}"


@pytest.fixture
def only_liu(stack: Stack) -> Iterator[None]:
    stack.at(WEEKDAY_10)
    agents = [a.id for a in stack.runtime.config.roster.agents if a.id != SHARED]
    presence = stack.runtime.presence_repo
    for agent in agents:
        presence.set_agent_state(agent, "away", "meal", stack.clock())
    stack.at(WEEKDAY_10)  # the queues pause the away agents
    try:
        yield
    finally:
        for agent in agents:
            presence.set_agent_state(agent, "available", "", stack.clock())
        stack.at(WEEKDAY_10)


def answered(stack: Stack, number: str, timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        rec = stack.runtime.calls.latest_from(number)
        if rec is not None and rec.answered_at is not None:
            return
        time.sleep(0.2)
    raise AssertionError(f"{number} was not answered within {timeout}s")


def test_the_higher_priority_branch_gets_the_shared_agent_first(
    stack: Stack, only_liu: None
) -> None:
    busy, low, high = caller(stack), caller(stack), caller(stack)
    with ThreadPoolExecutor(3) as pool:
        # liu takes an enquiry and talks for about 12 s.
        first = pool.submit(place_call, "1", busy, hold_ms=12000, timeout_s=60)
        answered(stack, busy)
        # An enquiry caller waits; a second later a repairs caller waits too.
        waiting_low = pool.submit(place_call, "1", low, hold_ms=40000, timeout_s=90)
        time.sleep(2.5)
        waiting_high = pool.submit(place_call, "3", high, hold_ms=16000, timeout_s=90)
        results = [f.result() for f in (first, waiting_low, waiting_high)]
    assert all(r.final_status == 200 for r in results), results
    recs = {n: stack.call_record(n, timeout=30) for n in (busy, low, high)}
    for n, rec in recs.items():
        assert rec.outcome is Outcome.ANSWERED and rec.answered_seat == "seat5", (n, rec)
    assert recs[low].branch == "enquiries" and recs[high].branch == "repairs"
    assert recs[low].routed_at is not None and recs[high].routed_at is not None
    assert recs[low].routed_at < recs[high].routed_at  # the enquiry waited longer ...
    assert recs[high].answered_at < recs[low].answered_at  # ... repairs went first
    assert recs[busy].ended_at is not None
    # the record's end is when the hotline heard of the hang-up: a moment late
    assert recs[high].answered_at >= recs[busy].ended_at - timedelta(seconds=1)
