"""Replaying the fallback journal into the call log, on SQLite and PostgreSQL: one
record a call, whatever the journal holds (hostile, broken, replayed twice) and
whatever the AMI listener recorded of the same calls before."""

from __future__ import annotations

import base64
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import func, select

from ivr.adapters.asterisk import names
from ivr.adapters.asterisk.ami import translate
from ivr.adapters.asterisk.journal import FallbackJournal
from ivr.adapters.db.calllog import SqlCallLog
from ivr.adapters.db.models import Call
from ivr.adapters.db.spool import SpoolingCallLog
from ivr.domain.calllog import CallEvent, Outcome

T = 1796614800.0  # Asterisk's time of the first line
NOW = datetime.fromtimestamp(T + 3600, UTC)  # the replay, an hour later


def b64(text: str) -> str:
    return base64.b64encode(text.encode()).decode()


def answered(uid: str, t: float = T) -> list[str]:
    return [
        f"S|{uid}|{t + 0.4}|{t}|13800000001|{b64('Zhang San')}|PJSIP/anonymous-00000001",
        f"A|{uid}|{t + 3}|PJSIP/seat3-0000000a",
        f"E|{uid}|{t + 60}|{t}|0|caller|13800000001",
    ]


def voicemail(uid: str, t: float = T) -> list[str]:
    hostile = 'E|1|2"\\ ' + "名" * 300 + "\r\nE|9.9|x"
    return [
        f"S|{uid}|{t + 0.4}|{t}|13800000002Ex|{b64(hostile)}|PJSIP/anonymous-00000002",
        f"V|{uid}|{t + 20.5}",
        f"E|{uid}|{t + 41}|{t}|0|system|13800000002Ex",
    ]


def left_waiting(uid: str, t: float = T) -> list[str]:
    return [
        f"S|{uid}|{t + 0.4}|{t}||{b64('')}|PJSIP/anonymous-00000003",
        f"E|{uid}|{t + 9}|{t}|0|caller|",
    ]


BROKEN = [
    "",
    "E|1796614800.9|1796614809|1796614800|0|caller|1|forged",
    "S|1796614800.9|not-a-time||x||",
    "A|" + "9" * 70 + "|1796614801|PJSIP/seat1",
    "\x00\x01garbage",
    "V|1796614800.9|1796614800|E|1796614800.9|1796614801|",
]


def journal(tmp_path: Path, calls: SqlCallLog) -> FallbackJournal:
    return FallbackJournal(
        tmp_path / "journal" / "fallback.log",
        clock=lambda: NOW,
        known=calls.get_call,
        system_now=lambda: NOW,  # the hotline's clock is the system's
    )


def write_lines(path: Path, lines: list[str]) -> None:
    path.parent.mkdir(exist_ok=True)
    with open(path, "a", encoding="utf-8") as f:
        f.write("".join(line + "\n" for line in lines))


def rows(calls: SqlCallLog) -> int:
    with calls._session_factory() as s:  # noqa: SLF001 - counting every row, whoever made it
        return int(s.scalar(select(func.count(Call.id))) or 0)


def test_a_hostile_and_broken_journal_makes_one_record_a_call(
    call_log: SqlCallLog, tmp_path: Path
) -> None:
    spool = SpoolingCallLog(call_log, tmp_path / "spool" / "calllog.jsonl")
    fj = journal(tmp_path, call_log)
    lines = answered("1796614800.1") + BROKEN[:3] + voicemail("1796614800.2") + BROKEN[3:]
    lines += left_waiting("1796614800.3")
    write_lines(fj.path, lines)
    assert fj.replay(spool.record_many) > 0
    assert rows(call_log) == 3  # nothing for the broken lines' uids

    a = call_log.get_call("1796614800.1")
    assert a is not None and a.source == "fallback" and a.outcome is Outcome.ANSWERED
    assert (a.caller, a.caller_name, a.answered_seat) == ("13800000001", "Zhang San", "seat3")
    assert a.started_at == datetime.fromtimestamp(T + 0.4, UTC)
    assert a.talk_seconds == pytest.approx(57) and a.wait_seconds == pytest.approx(2.6)
    assert a.hangup_cause == "caller hung up (fallback journal)"

    v = call_log.get_call("1796614800.2")
    assert v is not None and v.outcome is Outcome.VOICEMAIL and v.route_kind == "voicemail"
    assert v.caller == "13800000002Ex"
    assert v.caller_name.startswith('E|1|2" 名') and "\r" not in v.caller_name
    assert "\n" not in v.caller_name

    w = call_log.get_call("1796614800.3")
    assert w is not None and w.outcome is Outcome.ABANDONED_WAITING and w.caller == ""

    # The same lines again (a replay that died before removing them): nothing changes.
    before = [call_log.get_call(u) for u in ("1796614800.1", "1796614800.2", "1796614800.3")]
    write_lines(fj.replaying_path, lines)
    assert fj.replay(spool.record_many) == 0
    after = [call_log.get_call(u) for u in ("1796614800.1", "1796614800.2", "1796614800.3")]
    assert after == before and rows(call_log) == 3


def live_events(uid: str, at: datetime) -> list[CallEvent]:
    """What the AMI listener makes of an answered fallback call (its own clock)."""
    keys = {"Uniqueid": uid, "Linkedid": uid, "Channel": "PJSIP/anonymous-00000001"}
    s = timedelta(seconds=1)
    out: list[object] = [
        *translate(
            "UserEvent",
            {
                **keys,
                "UserEvent": names.USEREVENT_FALLBACK,
                "Caller": "13800000001",
                "CallerIDName": "Zhang San",
            },
            at + 0.41 * s,
        ),  # fmt: skip
        *translate("AgentConnect", {**keys, "Interface": "PJSIP/seat3"}, at + 3.01 * s),
        *translate(
            "Hangup",
            {
                **keys,
                "AccountCode": names.ACCOUNTCODE_INBOUND,
                "Context": names.CONTEXT_FALLBACK,
                "Cause": "16",
                "Cause-txt": "Normal Clearing",
                "CallerIDNum": "13800000001",
            },
            at + 60.01 * s,
        ),  # fmt: skip
    ]
    return [e for e in out if not hasattr(e, "device_state")]  # type: ignore[misc]


def test_a_call_the_listener_recorded_is_left_as_it_is(
    call_log: SqlCallLog, tmp_path: Path
) -> None:
    """The service was up: the AMI listener and the journal both saw the call."""
    uid = "1796614800.7"
    call_log.record_many(live_events(uid, datetime.fromtimestamp(T, UTC)))
    recorded = call_log.get_call(uid)
    assert recorded is not None and recorded.outcome is Outcome.ANSWERED
    fj = journal(tmp_path, call_log)
    write_lines(fj.path, answered(uid))
    assert fj.replay(call_log.record_many) == 0
    assert call_log.get_call(uid) == recorded and rows(call_log) == 1


def test_a_call_whose_end_the_listener_missed_gets_it(call_log: SqlCallLog, tmp_path: Path) -> None:
    """The AMI link dropped mid-call: the record has the start and the answer, and
    the journal its end (the replay runs before the sweep that would end it unheard)."""
    uid = "1796614800.8"
    call_log.record_many(live_events(uid, datetime.fromtimestamp(T, UTC))[:3])  # no Hangup
    open_record = call_log.get_call(uid)
    assert open_record is not None and open_record.ended_at is None
    fj = journal(tmp_path, call_log)
    write_lines(fj.path, answered(uid))
    assert fj.replay(call_log.record_many) == 1  # the end alone
    rec = call_log.get_call(uid)
    assert rec is not None and rec.outcome is Outcome.ANSWERED and rows(call_log) == 1
    assert rec.ended_at == datetime.fromtimestamp(T + 60, UTC)
    assert rec.answered_at == open_record.answered_at  # the listener's answer stays
    assert rec.started_at == open_record.started_at and rec.source == "fallback"
