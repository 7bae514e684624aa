"""A night call to a branch whose night rule targets an external number reaches the
SIPp "carrier" behind a SIP trunk, and the call's record shows the outside leg
(issue 10, items 2 and 3), on SQLite and PostgreSQL.

The hotline is the sample with two trunks (routing.yaml `trunks:`) on loopback
ports, each answered by a SIPp UAS: `carrier` answers at once, `slow` rings past
the ring time. Repairs at night go to the crew's mobile through `carrier`;
complaints at night to another number through `slow`, which nobody answers.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from pathlib import Path

import pytest
from config_files import copy_sample, edit
from dbs import BACKENDS
from e2e_stack import Stack, running_stack

from ivr.domain.calllog import Outcome
from lab.sandbox import Sandbox
from lab.sipp import Carrier, free_udp_port, place_call

pytestmark = pytest.mark.e2e

MONDAY_23 = "2026-11-23T23:00:00+08:00"  # closed; repairs' night rule holds
MONDAY_10 = "2026-11-23T10:00:00+08:00"
CREW_MOBILE = "+8613700000009"
DUTY_PHONE = "+8613700000008"
RING_SECONDS = 4  # overflow.ring_seconds: how long an outside leg may ring

_numbers = itertools.count(1)


def night_rules(config_dir: Path, carrier_port: int, slow_port: int) -> Path:
    night = '{windows: ["17:00-09:30"]}'
    edit(
        config_dir,
        "routing.yaml",
        "repairs: {skill: repairs, priority: 3}",
        "repairs: {skill: repairs, priority: 3, rules: "
        f"[{{when: {night}, target: {{number: '{CREW_MOBILE}', trunk: carrier}}}}]}}",
    )
    edit(
        config_dir,
        "routing.yaml",
        "complaints: {skill: complaints, priority: 2}",
        "complaints: {skill: complaints, priority: 2, rules: "
        f"[{{when: {night}, target: {{number: '{DUTY_PHONE}', trunk: slow}}}}]}}",
    )
    edit(
        config_dir,
        "routing.yaml",
        "vip:",
        f"trunks:\n  carrier: {{host: 127.0.0.1, port: {carrier_port}}}\n"
        f"  slow: {{host: 127.0.0.1, port: {slow_port}}}\nvip:",
    )
    edit(config_dir, "routing.yaml", "ring_seconds: 20", f"ring_seconds: {RING_SECONDS}")
    return config_dir


@pytest.fixture(scope="module", params=BACKENDS)
def rig(
    request: pytest.FixtureRequest, sandbox: Sandbox, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[Stack, Carrier, Carrier]]:
    backend: str = request.param
    work = tmp_path_factory.mktemp(f"external-{backend}")
    carrier_port, slow_port = free_udp_port(), free_udp_port()
    config = night_rules(copy_sample(work / "config"), carrier_port, slow_port)
    with (
        Carrier("127.0.0.1", carrier_port, ring_ms=300) as carrier,
        Carrier("127.0.0.1", slow_port, ring_ms=(RING_SECONDS + 30) * 1000) as slow,
        running_stack(backend, sandbox, work, config) as stack,
    ):
        yield stack, carrier, slow


def caller(stack: Stack) -> str:
    return f"1391{0 if stack.backend == 'sqlite' else 1}{next(_numbers):06d}"


def test_a_night_repairs_call_reaches_the_carrier_and_the_record_shows_the_leg(
    rig: tuple[Stack, Carrier, Carrier],
) -> None:
    stack, carrier, _ = rig
    stack.at(MONDAY_23)
    number = caller(stack)
    result = place_call("3", number, hold_ms=2000, timeout_s=30)
    assert result.ok, result
    leg = carrier.wait_for_call(CREW_MOBILE)
    assert leg.number == CREW_MOBILE
    rec = stack.call_record(number)
    assert (rec.branch, rec.route_kind) == ("repairs", "external")
    assert rec.route_target == f"{CREW_MOBILE}@carrier"  # the number dialled, and how
    assert rec.answered_seat == "trunk-carrier" and rec.answered_at is not None  # answered
    assert rec.outcome is Outcome.ANSWERED
    assert rec.talk_seconds is not None and rec.talk_seconds > 1
    assert rec.decision is not None
    assert any("rule 1 of repairs: window 17:00-09:30" in t for t in rec.decision.trace)
    assert stack.seats.seat_of(number) is None  # no seat rang


def test_an_unanswered_outside_leg_overflows_and_the_record_says_so(
    rig: tuple[Stack, Carrier, Carrier],
) -> None:
    stack, _, slow = rig
    stack.at(MONDAY_23)
    number = caller(stack)
    result = place_call("2", number, hold_ms=RING_SECONDS * 1000 + 6000, timeout_s=40)
    assert result.final_status == 200, result
    assert slow.wait_for_call(DUTY_PHONE).number == DUTY_PHONE  # it rang ...
    rec = stack.call_record(number)
    assert rec.answered_at is None and rec.answered_seat is None  # ... and nobody answered
    assert rec.decision is not None
    overflow = f"overflow after external {DUTY_PHONE}@slow: NOANSWER: callback"
    assert rec.decision.trace[0] == overflow, rec.decision.trace
    assert rec.route_kind == "callback"


def test_in_the_day_repairs_still_queue_for_a_seat(rig: tuple[Stack, Carrier, Carrier]) -> None:
    stack, carrier, _ = rig
    stack.at(MONDAY_10)
    number = caller(stack)
    before = len(carrier.calls())
    result = place_call("3", number, hold_ms=1500, timeout_s=30)
    assert result.ok, result
    rec = stack.call_record(number)
    assert rec.route_kind == "queue" and rec.outcome is Outcome.ANSWERED
    assert rec.answered_seat == stack.seats.seat_of(number)
    assert len(carrier.calls()) == before
