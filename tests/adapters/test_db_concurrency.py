"""Several writer processes on one database: no "database is locked", nothing lost.

Each worker process writes every call's events (overlapping uids, different
orders, one transaction per event and in batches whose call order differs
between workers), as the FastAGI server, AGI scripts and AMI listener do.
"""

from __future__ import annotations

import multiprocessing
import random
from datetime import UTC, datetime, timedelta
from multiprocessing.synchronize import Barrier

from sqlalchemy import Engine, func, select
from sqlalchemy.orm import Session, sessionmaker

from ivr.adapters.db.calllog import SqlCallLog
from ivr.adapters.db.engine import make_engine, make_session_factory
from ivr.adapters.db.models import Call, CallStep
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
WORKERS = 3
CALLS = 60


def _events(n: int) -> list[CallEvent]:
    uid = f"conc-{n}"
    t = T0 + timedelta(minutes=n)
    return [
        CallStarted(uid, t, f"1380000{n:04d}"),
        MenuStep(uid, 1, t + timedelta(seconds=1), "main", "prompt"),
        MenuStep(uid, 2, t + timedelta(seconds=4), "main", "key", key="3"),
        Routed(uid, t + timedelta(seconds=5), "sales", "queue", "sq", trace=("open",)),
        CallAnswered(uid, t + timedelta(seconds=9), f"seat-{n % 5}", f"agent-{n % 5}"),
        CallEnded(uid, t + timedelta(seconds=69), hangup_cause="16"),
    ]


def _writer(url: str, worker: int, barrier: Barrier) -> None:
    """One process: half the calls event by event, the rest in shuffled multi-call batches.

    For the first half all workers start on the same call at the same moment
    (the barrier), each in its own event order, so they collide on one row.
    """
    engine = make_engine(url)
    try:
        log = SqlCallLog(make_session_factory(engine))
        rng = random.Random(worker)
        for n in range(CALLS // 2):
            events = _events(n)
            rng.shuffle(events)
            barrier.wait(timeout=60)
            for event in events:
                log.record(event)
        calls = list(range(CALLS // 2, CALLS))
        rest = [e for n in calls for e in _events(n)]
        rng.shuffle(rest)
        for start in range(0, len(rest), 25):
            log.record_many(rest[start : start + 25])
    finally:
        engine.dispose()


def test_concurrent_writer_processes_lose_nothing(
    db_url: str, engine: Engine, session_factory: sessionmaker[Session]
) -> None:
    ctx = multiprocessing.get_context("spawn")
    barrier = ctx.Barrier(WORKERS)
    workers = [ctx.Process(target=_writer, args=(db_url, w, barrier)) for w in range(WORKERS)]
    for proc in workers:
        proc.start()
    for proc in workers:
        proc.join(timeout=120)
    assert [proc.exitcode for proc in workers] == [0] * WORKERS  # tracebacks on stderr
    for proc in workers:
        proc.close()

    log = SqlCallLog(session_factory)
    with session_factory() as session:
        assert session.scalar(select(func.count()).select_from(Call)) == CALLS
        assert session.scalar(select(func.count()).select_from(CallStep)) == 2 * CALLS
    for n in range(CALLS):
        record = log.get_call(f"conc-{n}")
        assert record is not None
        assert (record.outcome, record.wait_seconds, record.talk_seconds) == (
            Outcome.ANSWERED,
            4.0,
            60.0,
        )
        assert (record.source, record.answered_agent) == ("fastagi", f"agent-{n % 5}")
