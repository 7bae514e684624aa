"""A database outage never loses a call event: spool, replay, write-behind buffer."""

from __future__ import annotations

import random
import socket
import subprocess
import sys
from collections.abc import Iterable, Iterator
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

import pytest
from sqlalchemy import Engine, func, select
from sqlalchemy.exc import OperationalError
from sqlalchemy.orm import Session, sessionmaker

from ivr.adapters.db.calllog import SqlCallLog
from ivr.adapters.db.engine import make_engine, make_session_factory, migrate
from ivr.adapters.db.models import CallStep
from ivr.adapters.db.spool import (
    BufferedCallLog,
    SpoolFormatError,
    SpoolingCallLog,
    decode_event,
    encode_event,
)
from ivr.domain.calllog import (
    CallAnswered,
    CallEnded,
    CallEvent,
    CallStarted,
    MenuStep,
    Outcome,
    Routed,
)

T0 = datetime(2025, 3, 14, 9, 30, tzinfo=UTC)


def at(seconds: float) -> datetime:
    return T0 + timedelta(seconds=seconds)


def call_events(uid: str) -> list[CallEvent]:
    return [
        CallStarted(uid, at(0), "13800000001", "Li Si", "12345", "PJSIP/trunk-1", "fastagi"),
        MenuStep(uid, 1, at(2), "main", "key", key="1", detail="complaints"),
        Routed(uid, at(3), "complaints", "queue", "cq", priority=3, trace=("open", "cq")),
        CallAnswered(uid, at(13), "seat-1", "agent-1"),
        CallEnded(uid, at(73), hangup_cause="16"),
    ]


def assert_complete(log: SqlCallLog, uid: str) -> None:
    record = log.get_call(uid)
    assert record is not None, uid
    assert (record.outcome, record.wait_seconds, record.talk_seconds) == (
        Outcome.ANSWERED,
        10.0,
        60.0,
    )
    assert record.decision is not None and record.decision.trace == ("open", "cq")
    assert len(record.steps) == 1


def spool_lines(path: Path) -> list[str]:
    return path.read_text("utf-8").split("\n")[:-1] if path.exists() else []


def pending_lines(spool: Path) -> list[str]:
    """Every spooled line waiting for replay, oldest first (`.replaying`, then the spool)."""
    return spool_lines(spool.with_name(spool.name + ".replaying")) + spool_lines(spool)


def step_rows(factory: sessionmaker[Session]) -> int:
    with factory() as session:
        return session.scalar(select(func.count()).select_from(CallStep)) or 0


@pytest.fixture
def spool_path(tmp_path: Path) -> Path:
    return tmp_path / "spool" / "calllog.spool"


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture(params=["postgres-closed-port", "sqlite-missing-directory"])
def down_engine(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Engine]:
    """An engine whose database cannot be reached."""
    if request.param == "postgres-closed-port":
        url = f"postgresql://postgres@127.0.0.1:{_closed_port()}/hotline"
    else:
        url = f"sqlite:///{tmp_path / 'removed-dir' / 'hotline.db'}"
    eng = make_engine(url, busy_timeout=1)
    yield eng
    eng.dispose()


# --------------------------------------------------------------------------- JSON lines


def test_every_event_type_round_trips_through_json() -> None:
    plus8 = timezone(timedelta(hours=8))
    events: list[CallEvent] = [
        *call_events("rt"),
        Routed("rt", datetime(2025, 1, 1, 8, 0, tzinfo=plus8), "b", "seat", "s", vip=True),
        CallEnded("rt", at(9), outcome=Outcome.VOICEMAIL),
    ]
    for event in events:
        line = encode_event(event)
        assert "\n" not in line
        decoded = decode_event(line)
        assert decoded == event
        assert decoded.at.utcoffset() == event.at.utcoffset()
    assert isinstance(decode_event(encode_event(events[2])), Routed)
    assert decode_event(encode_event(events[-1])).outcome is Outcome.VOICEMAIL  # type: ignore[union-attr]


@pytest.mark.parametrize(
    "line",
    [
        "not json",
        '{"type": "Nope", "event": {}}',
        '{"type": "CallEnded"}',
        "[1]",
        '"text"',
        '{"type": ["CallEnded"], "event": {}}',
        '{"type": "CallEnded", "event": []}',
        "[" * 5000 + "]" * 5000,  # deeper than the JSON parser goes
    ],
)
def test_a_line_that_is_not_an_event_is_refused(line: str) -> None:
    with pytest.raises(SpoolFormatError):
        decode_event(line)


# --------------------------------------------------------------------------- outage, recovery


def test_unreachable_database_spools_everything_and_replay_writes_it_once(
    down_engine: Engine,
    call_log: SqlCallLog,
    session_factory: sessionmaker[Session],
    spool_path: Path,
) -> None:
    down = SpoolingCallLog(
        SqlCallLog(make_session_factory(down_engine)), spool_path, retry_interval=0
    )
    events = call_events("c1") + call_events("c2")
    for event in events:
        down.record(event)  # returns normally
    assert [decode_event(line) for line in pending_lines(spool_path)] == events

    up = SpoolingCallLog(call_log, spool_path, retry_interval=0)
    assert up.replay() == len(events)
    assert_complete(call_log, "c1")
    assert_complete(call_log, "c2")
    assert not up.pending()
    assert up.replay() == 0
    assert step_rows(session_factory) == 2


@pytest.mark.parametrize("sep", ["\u2028", "\u2029", "\x85", "\x1c", "\x0b\x0c"])
def test_a_spooled_event_holding_a_line_separator_is_replayed_whole(
    down_engine: Engine, call_log: SqlCallLog, spool_path: Path, sep: str
) -> None:
    """JSON keeps U+2028, U+2029 and NEL as they are, one line of the spool; the replay
    read the spool with str.splitlines, which breaks there too: the event's line was
    cut in two, neither half an event, and the call's start was set aside as rejected."""
    down = SpoolingCallLog(
        SqlCallLog(make_session_factory(down_engine)), spool_path, retry_interval=0
    )
    name = f"Li{sep}Si"
    events: list[CallEvent] = [
        CallStarted("c1", at(0), "13800000001", name, "12345", "PJSIP/trunk-1", "fastagi"),
        *call_events("c1")[1:],
    ]
    for event in events:
        down.record(event)
    up = SpoolingCallLog(call_log, spool_path, retry_interval=0)
    assert up.replay() == len(events)
    record = call_log.get_call("c1")
    assert record is not None and record.caller_name == name
    assert not list(spool_path.parent.glob("*rejected*"))


def test_locked_sqlite_spools_and_the_next_write_replays_first(
    tmp_path: Path, spool_path: Path
) -> None:
    url = f"sqlite:///{tmp_path / 'locked.db'}"
    writer, locker = make_engine(url, busy_timeout=0.2), make_engine(url)
    try:
        migrate(writer)
        inner = SqlCallLog(make_session_factory(writer))
        log = SpoolingCallLog(inner, spool_path, retry_interval=0)
        *early, last = call_events("locked")
        with locker.begin():  # another process holds the write lock too long
            for event in early:
                log.record(event)
            assert [decode_event(line) for line in pending_lines(spool_path)] == early
            assert log.pending()
        log.record(last)
        assert not log.pending()
        assert_complete(inner, "locked")
    finally:
        writer.dispose()
        locker.dispose()


def test_retry_interval_sends_writes_straight_to_the_spool(
    down_engine: Engine, spool_path: Path
) -> None:
    attempts: list[int] = []

    class Counting(SqlCallLog):
        def record_many(self, events: Iterable[CallEvent]) -> None:
            attempts.append(1)
            super().record_many(events)

    now = [100.0]
    log = SpoolingCallLog(
        Counting(make_session_factory(down_engine)),
        spool_path,
        retry_interval=5,
        clock=lambda: now[0],
    )
    for event in call_events("b"):
        log.record(event)
    assert len(attempts) == 1
    now[0] += 6
    log.record(CallEnded("b", at(80)))
    assert len(attempts) == 2  # tried again (the replay) after the interval
    assert len(pending_lines(spool_path)) == 6


class FlakyCallLog(SqlCallLog):
    """A real SqlCallLog whose database 'goes down' after `ok_batches` batches."""

    def __init__(self, factory: sessionmaker[Session], ok_batches: int) -> None:
        super().__init__(factory)
        self.ok_batches = ok_batches

    def record_many(self, events: Iterable[CallEvent]) -> None:
        if self.ok_batches <= 0:
            raise OperationalError("INSERT", {}, Exception("server closed the connection"))
        self.ok_batches -= 1
        super().record_many(events)


def test_replay_stops_at_an_outage_and_keeps_only_what_was_not_applied(
    session_factory: sessionmaker[Session], call_log: SqlCallLog, spool_path: Path
) -> None:
    events = call_events("f")
    SpoolingCallLog(call_log, spool_path).spool(events)
    flaky = FlakyCallLog(session_factory, ok_batches=1)
    log = SpoolingCallLog(flaky, spool_path, batch_size=2, retry_interval=0)

    assert log.replay() == 2
    replaying = spool_path.with_name(spool_path.name + ".replaying")
    assert [decode_event(line) for line in spool_lines(replaying)] == events[2:]
    log.record(CallEnded("g", at(5)))  # still down: queued behind the rest
    assert [decode_event(line) for line in spool_lines(spool_path)] == [CallEnded("g", at(5))]

    flaky.ok_batches = 100
    assert log.replay() == 4
    assert not log.pending()
    assert_complete(call_log, "f")
    assert call_log.get_call("g") is not None


def test_a_replay_interrupted_by_a_crash_is_finished_first(
    call_log: SqlCallLog, spool_path: Path
) -> None:
    spool_path.parent.mkdir(parents=True)
    first, second = call_events("crash")[:3], call_events("crash")[3:]
    replaying = spool_path.with_name(spool_path.name + ".replaying")
    replaying.write_text("".join(encode_event(e) + "\n" for e in first), "utf-8")
    spool_path.write_text("".join(encode_event(e) + "\n" for e in second), "utf-8")

    log = SpoolingCallLog(call_log, spool_path)
    assert log.replay() == 5
    assert not replaying.exists() and not log.pending()
    assert_complete(call_log, "crash")


def test_a_line_the_database_refuses_for_good_is_set_aside_not_lost(
    call_log: SqlCallLog, spool_path: Path
) -> None:
    spool_path.parent.mkdir(parents=True)
    good = [encode_event(e) for e in call_events("ok")]
    naive = encode_event(CallEnded("bad", datetime(2025, 3, 14, 10, 0)))
    spool_path.write_text("\n".join([*good[:2], "{torn line", naive, *good[2:]]) + "\n", "utf-8")

    log = SpoolingCallLog(call_log, spool_path)
    assert log.replay() == 5
    assert_complete(call_log, "ok")
    rejected = spool_path.with_name(spool_path.name + ".rejected")
    assert spool_lines(rejected) == ["{torn line", naive]
    assert not log.pending()


@pytest.mark.parametrize("good_calls", [0, 1], ids=["alone", "after-a-full-batch"])
def test_a_refused_line_alone_in_its_batch_is_set_aside_not_raised(
    call_log: SqlCallLog, spool_path: Path, good_calls: int
) -> None:
    """The replay's last batch may hold one line: refused, it is rejected like any other,
    and the spool does not stop there (every later event would wait behind it)."""
    spool_path.parent.mkdir(parents=True)
    good = [encode_event(e) for n in range(good_calls) for e in call_events(f"g{n}")]
    naive = encode_event(CallEnded("bad", datetime(2025, 3, 14, 10, 0)))
    spool_path.write_text("\n".join([*good, naive]) + "\n", "utf-8")

    log = SpoolingCallLog(call_log, spool_path, batch_size=5)  # a call's 5 events a batch
    assert log.replay() == len(good)
    assert spool_lines(spool_path.with_name(spool_path.name + ".rejected")) == [naive]
    assert not log.pending()
    for n in range(good_calls):
        assert_complete(call_log, f"g{n}")
    log.record_many(call_events("next"))  # straight to the database
    assert_complete(call_log, "next")


# --------------------------------------------------------------------------- write-behind


def test_buffered_log_writes_everything_by_close(
    call_log: SqlCallLog, session_factory: sessionmaker[Session], spool_path: Path
) -> None:
    buffered = BufferedCallLog(SpoolingCallLog(call_log, spool_path), interval=0.002, max_batch=7)
    uids = [f"buf-{n}" for n in range(40)]
    for uid in uids:
        buffered.record_many(call_events(uid))
    buffered.close()
    buffered.close()  # idempotent
    for uid in uids:
        assert_complete(call_log, uid)
    assert step_rows(session_factory) == len(uids)
    assert not spool_path.exists()

    buffered.record(CallEnded("after-close", at(1)))  # written synchronously
    assert call_log.get_call("after-close") is not None


def test_buffered_log_flush_waits_for_the_writer(call_log: SqlCallLog, spool_path: Path) -> None:
    with BufferedCallLog(SpoolingCallLog(call_log, spool_path), interval=0.05) as buffered:
        buffered.record_many(call_events("fl"))
        buffered.flush()
        assert_complete(call_log, "fl")


def test_buffered_log_spools_when_the_database_is_down(
    down_engine: Engine, call_log: SqlCallLog, spool_path: Path
) -> None:
    down = SpoolingCallLog(SqlCallLog(make_session_factory(down_engine)), spool_path)
    events = [e for n in range(10) for e in call_events(f"d{n}")]
    with BufferedCallLog(down) as buffered:
        buffered.record_many(events)
    assert pending_lines(spool_path) == [encode_event(e) for e in events]

    assert SpoolingCallLog(call_log, spool_path).replay() == len(events)
    for n in range(10):
        assert_complete(call_log, f"d{n}")


BAD_EVENTS = {
    "naive datetime": CallEnded("bad", datetime(2025, 3, 14, 10, 0)),
    "lone surrogate": CallStarted("bad", at(0), "13800000009", "Wang\udcff", "12345"),
    "lone surrogate in a step": MenuStep("bad", 1, at(1), "main", "key", key="\ud800"),
}


@pytest.mark.parametrize("bad", BAD_EVENTS.values(), ids=BAD_EVENTS.keys())
def test_an_event_the_database_refuses_is_rejected_alone_and_its_batch_lands(
    call_log: SqlCallLog, spool_path: Path, bad: CallEvent
) -> None:
    events = [e for n in range(6) for e in call_events(f"m{n}")]
    events.insert(len(events) // 2 + 1, bad)  # mid-batch, mid-call
    with BufferedCallLog(SpoolingCallLog(call_log, spool_path), interval=0.5) as buffered:
        buffered.record_many(events)  # one batch
    for n in range(6):
        assert_complete(call_log, f"m{n}")
    rejected = spool_path.with_name(spool_path.name + ".rejected")
    assert [decode_event(line) for line in spool_lines(rejected)] == [bad]
    assert not pending_lines(spool_path)


def test_a_nul_in_text_is_stored_or_rejected_alone(
    call_log: SqlCallLog, spool_path: Path, db_url: str
) -> None:
    """PostgreSQL cannot store NUL in text (SQLite can): there, only that event is set aside."""
    bad = CallStarted("nul", at(0), "13800000009", "Zhao\x00Liu", "12345")
    log = SpoolingCallLog(call_log, spool_path)
    log.record_many([*call_events("n1"), bad, *call_events("n2")])
    assert_complete(call_log, "n1")
    assert_complete(call_log, "n2")
    rejected = spool_path.with_name(spool_path.name + ".rejected")
    if db_url.startswith("postgresql"):
        assert [decode_event(line) for line in spool_lines(rejected)] == [bad]
        assert call_log.get_call("nul") is None
    else:
        record = call_log.get_call("nul")
        assert record is not None and record.caller_name == "Zhao\x00Liu"
        assert not rejected.exists()
    assert not pending_lines(spool_path)


def test_an_event_over_a_postgresql_limit_is_rejected_alone_not_spooled_for_ever(
    call_log: SqlCallLog, spool_path: Path, db_url: str
) -> None:
    """A call id too long to index is a ProgramLimitExceeded on PostgreSQL, an
    OperationalError: not an outage, since it fails again at every replay."""
    rng = random.Random(3)
    uid = "".join(rng.choice("abcdefghijklmnopqrstuvwxyz0123456789") for _ in range(7000))
    bad = CallStarted(uid, at(0), "13800000009", "Zhao", "12345")
    with BufferedCallLog(SpoolingCallLog(call_log, spool_path), interval=0.5) as buffered:
        buffered.record_many([*call_events("l1"), bad, *call_events("l2")])  # one batch
        buffered.flush()
        buffered.record_many(call_events("l3"))
    for n in (1, 2, 3):
        assert_complete(call_log, f"l{n}")
    assert not pending_lines(spool_path)
    rejected = spool_path.with_name(spool_path.name + ".rejected")
    if db_url.startswith("postgresql"):
        assert [decode_event(line) for line in spool_lines(rejected)] == [bad]
    else:
        assert call_log.get_call(uid) is not None and not rejected.exists()


def test_a_spooled_event_over_a_postgresql_limit_does_not_hold_the_replay(
    call_log: SqlCallLog, spool_path: Path, db_url: str
) -> None:
    spool_path.parent.mkdir(parents=True)
    rng = random.Random(5)
    uid = "".join(rng.choice("abcdefghijklmnopqrstuvwxyz0123456789") for _ in range(7000))
    bad = encode_event(CallEnded(uid, at(5)))
    good = [encode_event(e) for e in call_events("r1")]
    spool_path.write_text("\n".join([*good[:2], bad, *good[2:]]) + "\n", "utf-8")
    log = SpoolingCallLog(call_log, spool_path)
    log.replay()
    assert_complete(call_log, "r1")
    assert not log.pending()
    rejected = spool_path.with_name(spool_path.name + ".rejected")
    assert spool_lines(rejected) == ([bad] if db_url.startswith("postgresql") else [])


def test_an_event_with_a_lone_surrogate_round_trips_through_json() -> None:
    event = CallStarted("s", at(0), "1", "Wang\udcff")
    line = encode_event(event)
    line.encode("utf-8")  # writable to a UTF-8 file
    assert decode_event(line) == event


def test_buffered_log_is_written_at_interpreter_exit_without_close(tmp_path: Path) -> None:
    """A process that forgets close() still writes its queued events before it exits."""
    url = f"sqlite:///{tmp_path / 'exit.db'}"
    eng = make_engine(url)
    try:
        migrate(eng)
    finally:
        eng.dispose()
    script = f"""
from datetime import datetime, UTC
from pathlib import Path
from ivr.adapters.db.calllog import SqlCallLog
from ivr.adapters.db.engine import make_engine, make_session_factory
from ivr.adapters.db.spool import BufferedCallLog, SpoolingCallLog
from ivr.domain.calllog import CallStarted
engine = make_engine({url!r})
log = SqlCallLog(make_session_factory(engine))
buffered = BufferedCallLog(SpoolingCallLog(log, Path({str(tmp_path / "s.spool")!r})), interval=0.5)
for n in range(20):
    buffered.record(CallStarted(f"exit-{{n}}", datetime(2025, 3, 14, tzinfo=UTC), "1"))
"""
    subprocess.run([sys.executable, "-c", script], check=True, timeout=60)
    eng = make_engine(url)
    try:
        log = SqlCallLog(make_session_factory(eng))
        assert all(log.get_call(f"exit-{n}") is not None for n in range(20))
    finally:
        eng.dispose()
