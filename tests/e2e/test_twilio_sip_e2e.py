"""Twilio's <Dial><Sip> legs into the sandbox Asterisk (issue 12), on SQLite and
PostgreSQL. A SIPp caller at 127.0.0.2 plays Twilio (the sample's
twilio.sip_source_ips): sip:queue-enquiries@ joins the enquiries queue and a seat
answers; sip:seat2@ rings seat2. The seat that answers goes on the Twilio call's
record (the CallSid from X-Twilio-CallSid, in the leg's account code), and the leg
makes no record of its own. The same request from an unlisted address is refused.
"""

from __future__ import annotations

import time
import uuid

import pytest
from e2e_stack import WEEKDAY_10, Stack

from ivr.domain.calllog import SOURCE_TWILIO, CallStarted
from lab.sipp import place_call

pytestmark = pytest.mark.e2e
TWILIO_IP = "127.0.0.2"
ENQUIRY_SEATS = {"seat1", "seat2", "seat3", "seat5"}


def twilio_call(stack: Stack) -> str:
    """A Twilio call's record as the voice webhook starts it."""
    sid = "CA" + uuid.uuid4().hex
    stack.runtime.calls.record_many(
        [CallStarted(sid, stack.clock(), "+14155550123", source=SOURCE_TWILIO)]
    )
    return sid


def answered_seat(stack: Stack, sid: str, timeout: float = 15.0) -> str | None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        stack.service.service.calllog.flush()
        rec = stack.runtime.calls.get_call(sid)
        if rec is not None and rec.answered_seat:
            return rec.answered_seat
        time.sleep(0.2)
    return None


@pytest.mark.parametrize("user", ["queue-enquiries", "seat2"])
def test_a_twilio_leg_reaches_the_seat_and_the_seat_goes_on_the_twilio_record(
    stack: Stack, user: str
) -> None:
    stack.at(WEEKDAY_10)
    sid = twilio_call(stack)
    before = stack.calls_from("twilio")
    result = place_call(
        "", "twilio", extension=user, local_ip=TWILIO_IP,
        headers={"X-Twilio-CallSid": sid}, hold_ms=2500, timeout_s=30,
    )  # fmt: skip
    assert result.final_status == 200, result
    seat = answered_seat(stack, sid)
    assert seat == "seat2" if user == "seat2" else seat in ENQUIRY_SEATS, seat
    rec = stack.runtime.calls.get_call(sid)
    assert rec is not None and rec.source == SOURCE_TWILIO
    assert rec.answered_agent == stack.runtime.config.roster.agent_by_seat(seat).id
    assert stack.calls_from("twilio") == before  # the leg made no record of its own


def test_a_twilio_address_is_needed_to_reach_a_queue_or_seat(stack: Stack) -> None:
    # From: sip:twilio@127.0.0.1 names the endpoint, but only its address counts
    stack.at(WEEKDAY_10)
    result = place_call(
        "", "twilio", extension="queue-enquiries", local_ip="127.0.0.1",
        headers={"X-Twilio-CallSid": "CA" + uuid.uuid4().hex}, hold_ms=500, timeout_s=20,
    )  # fmt: skip
    assert result.final_status == 404, result
