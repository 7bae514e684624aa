"""Calls that begin and end while the hotline service is down altogether, through
the real sandbox Asterisk, on SQLite and PostgreSQL.

Asterisk's fallback context serves them (the operator queue, then voicemail) and
appends them to the fallback journal (ivr/adapters/asterisk/journal.py); nothing
hears its AMI events. When the service starts it replays the journal: each call
has exactly one record, with the fallback's outcome, the caller and the times, and
a hostile caller ID forges nothing. Started again, nothing doubles or changes.
"""

from __future__ import annotations

import time
import unicodedata
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import timedelta

import pytest
from e2e_stack import WEEKDAY_10, Stack
from sqlalchemy import select

from ivr.adapters.db.calllog import CallRecord
from ivr.adapters.db.models import Call
from ivr.bootstrap import build_service
from ivr.domain.calllog import Outcome
from ivr.service import ServiceThread
from lab.sipp import place_call

pytestmark = pytest.mark.e2e

# Everything a caller ID can carry that could break a journal line or a field:
# the separator, the journal's own kinds and fields, quotes, a backslash, 300 CJK
# characters (CR/LF cannot reach Asterisk in a SIP header: lab.sipp drops them,
# and the dialplan keeps the name in base64 whatever it holds).
HOSTILE_USER = "13952000002|E|1.5|0|caller|x"
HOSTILE_NAME = 'Eve|S|1|"x"\\ ' + "名" * 300


def numbers(stack: Stack) -> tuple[str, str]:
    digit = 0 if stack.backend == "sqlite" else 1
    return f"1395{digit}000001", HOSTILE_USER.replace("13952", f"1395{digit}", 1)


def records_after(stack: Stack, watermark: int) -> list[CallRecord]:
    with stack.runtime.sessions() as s:
        uids = s.scalars(select(Call.uid).where(Call.id > watermark).order_by(Call.id)).all()
    records = [stack.runtime.calls.get_call(uid) for uid in uids]
    return [r for r in records if r is not None]


@contextmanager
def service(stack: Stack) -> Iterator[ServiceThread]:
    """A fresh hotline service over the stack's runtime (it replays the journal as it
    starts), stopped on leaving."""
    thread = ServiceThread(build_service(stack.runtime, sync_seconds=0.5))
    thread.start()
    try:
        yield thread
    finally:
        thread.stop()


def empty_operator_queue(stack: Stack) -> None:
    """What the service would do at a closed hour: nobody in the operator queue."""
    for agent in stack.runtime.config.roster.agents:
        stack.sandbox.rx(f"queue remove member PJSIP/{agent.seat} from operator")


def unsafe(text: str) -> list[str]:
    return [ch for ch in text if unicodedata.category(ch) in ("Cc", "Cf") and ch != "\u200b"]


def test_fallback_calls_heard_by_the_service_are_not_recorded_twice(stack: Stack) -> None:
    """FastAGI down, the service up: the AMI listener records the fallback's calls
    and the journal has them too; its replay leaves each record as it was."""
    stack.at(WEEKDAY_10)
    digit = 0 if stack.backend == "sqlite" else 1
    answered, voicemail = f"1395{digit}100001", f"1395{digit}100002"
    journal = stack.runtime.config.fallback_journal
    stack.service.stop_fastagi()
    try:
        assert place_call("", answered, first_key_delay_ms=0, hold_ms=1500, timeout_s=30).ok
        empty_operator_queue(stack)
        left = place_call("", voicemail, first_key_delay_ms=0, hangup_after_ms=2000)
        assert left.final_status == 200, left
    finally:
        stack.service.start_fastagi()
        stack.at(WEEKDAY_10)  # the operator queue's seats back
    heard = [stack.call_record(answered), stack.call_record(voicemail)]
    assert [r.outcome for r in heard] == [Outcome.ANSWERED, Outcome.VOICEMAIL]
    assert all(r.source == "fallback" for r in heard)
    time.sleep(0.5)  # the hangup handlers' lines
    assert journal.read_text(encoding="utf-8").count("\n") == 6  # S A E, S V E

    assert stack.service.service.replay_journal() == 0  # nothing the records lack
    assert not journal.exists()
    assert [stack.call_record(answered), stack.call_record(voicemail)] == heard
    assert stack.calls_from(answered) == 1 and stack.calls_from(voicemail) == 1


def test_calls_served_while_the_service_was_down_are_recorded_once(stack: Stack) -> None:
    stack.at(WEEKDAY_10)  # the operator queue has its on-duty seats
    ordinary, hostile = numbers(stack)
    journal = stack.runtime.config.fallback_journal
    watermark = stack.runtime.calls.last_id()
    stack.service.stop()  # for good: this test's own services come and go below

    before = stack.clock()
    answered = place_call("", ordinary, first_key_delay_ms=0, hold_ms=2500, timeout_s=30)
    empty_operator_queue(stack)  # the next caller goes on to voicemail
    middle = stack.clock()
    voicemail = place_call(
        "", hostile, display=HOSTILE_NAME, first_key_delay_ms=0, hangup_after_ms=2500
    )
    after = stack.clock()
    assert answered.ok, answered
    assert voicemail.final_status == 200, voicemail
    time.sleep(0.5)  # the hangup handlers' lines
    assert records_after(stack, watermark) == [], "nobody was listening"
    lines = journal.read_text(encoding="utf-8")
    assert lines.count("\n") == 6, lines  # S A E, S V E

    with service(stack):
        recs = records_after(stack, watermark)
        assert not journal.exists() and not journal.with_name(journal.name + ".replaying").exists()
    assert len(recs) == 2, [(r.caller, r.outcome) for r in recs]
    first, second = recs

    assert first.source == "fallback" and first.caller == f"+86{ordinary}"
    assert first.outcome is Outcome.ANSWERED
    assert first.branch == "operator" and first.route_target == "operator"
    assert first.answered_seat and first.answered_agent
    assert first.answered_seat == stack.seats.seat_of(ordinary)
    # Asterisk's times moved onto the hotline's clock (a millisecond or so apart)
    slack = timedelta(seconds=1)
    assert before - slack <= first.started_at <= first.answered_at <= first.ended_at  # type: ignore[operator]
    assert first.ended_at <= middle + slack  # type: ignore[operator]
    assert first.talk_seconds is not None and 1 < first.talk_seconds < 4
    assert first.channel.startswith("PJSIP/anonymous-")

    assert second.source == "fallback"
    assert second.outcome is Outcome.VOICEMAIL and second.route_kind == "voicemail"
    assert second.answered_at is None
    assert middle - slack <= second.started_at <= second.ended_at <= after + slack  # type: ignore[operator]
    assert "caller hung up" in second.hangup_cause
    # the number FILTERed to its characters, as the fallback's UserEvent has it; the
    # name as the phone showed it (quoted-string escapes undone), nothing unsafe
    assert second.caller == "".join(c for c in hostile if c.isalnum())
    assert second.caller_name.startswith('Eve|S|1|"x"\\ 名'), second.caller_name
    assert not unsafe(second.caller_name) and not unsafe(second.caller)
    assert second.decision is not None and second.decision.trace[-1] == "route: voicemail"

    # Started again after a replay that wrote its events and died before removing the
    # journal (its lines are back): every call still has its one record, unchanged.
    journal.with_name(journal.name + ".replaying").write_text(lines, encoding="utf-8")
    with service(stack):
        again = records_after(stack, watermark)
    assert again == recs
    assert stack.calls_from(ordinary) == 1
