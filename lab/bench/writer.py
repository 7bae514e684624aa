"""`hotline bench writer`: the call-log writer's CPU per call, on each store.

The FastAGI service hands its call events to a writer thread
(`ivr.adapters.db.spool.BufferedCallLog`), which applies each batch with
`SqlCallLog.record_many`. Under load that writer is a large share of the
service's CPU, and the service shares the machine's cores with Asterisk, so its
cost per call bounds the IVR's capacity (`hotline bench ivr --find-max`). The
IVR bench is too noisy to resolve a 10 % change in it; this one is not.

The calls follow the IVR bench's pattern, in its batches: a call's start and
first menu step in one batch, its key, the menu's leave and its routing decision
in the next, its end in a third, `per_batch` calls to a batch (about what 50 ms
of the writer's batching holds at 300 calls/s). `writer_cpu_ms` is this
process's CPU time (the writer's work; PostgreSQL's server is another process)
per call. The baseline, measured in the same run on the same store, is
`raw_cpu_ms`: the same number of rows (one per event) written with the
database driver's own `executemany`, in the same number of transactions, with
no merging: the floor of talking to that store from Python. `overhead_ratio` is
writer / raw. The run checks a sample of the calls was written whole (ended, routed,
with their steps), so the figure is for the work the service needs.
"""

from __future__ import annotations

import shutil
import tempfile
import time
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from ivr.adapters.db.calllog import SqlCallLog
from ivr.adapters.db.engine import make_engine, make_session_factory, migrate
from ivr.domain.calllog import CallEnded, CallEvent, CallStarted, MenuStep, Routed

T0 = datetime(2026, 12, 6, 8, 0, tzinfo=UTC)
CALLER = "+8613900001234"
RATE = 300.0  # calls/s the batches stand for: a call starts every 1/RATE s
ROUNDS = 3  # timed passes over fresh uids; the figure is the lowest (least disturbed)


def batches(calls: int, per_batch: int, prefix: str = "b") -> list[list[CallEvent]]:
    """The events of `calls` calls in the writer's batches (see the module doc)."""
    out: list[list[CallEvent]] = []
    for first in range(0, calls, per_batch):
        uids = [f"{prefix}.{n}" for n in range(first, min(calls, first + per_batch))]
        at = T0 + timedelta(seconds=first / RATE)
        keyed, ended = at + timedelta(seconds=0.5), at + timedelta(seconds=0.9)
        out.append(
            [
                e
                for u in uids
                for e in (
                    CallStarted(u, at, CALLER, "load", "4000", f"PJSIP/anonymous-{u}", "fastagi"),
                    MenuStep(u, 1, at, "main", "start"),
                )
            ]
        )
        out.append(
            [
                e
                for u in uids
                for e in (
                    MenuStep(u, 2, keyed, "main", "key", "9", "callback", "key"),
                    MenuStep(u, 3, keyed, "main", "leave", "", "callback"),
                    Routed(
                        u,
                        keyed,
                        "",
                        "callback",
                        CALLER,
                        0,
                        False,
                        "zh-CN",
                        ("menu main: key 9 -> callback", "caller chose callback"),
                    ),
                )
            ]
        )
        out.append([CallEnded(u, ended, hangup_cause="16") for u in uids])
    return out


# The driver's own placeholders: sqlite3 takes ?, psycopg %s.
_RAW_INSERT = {
    "qmark": "INSERT INTO bench_raw (uid, kind, at) VALUES (?, ?, ?)",
    "format": "INSERT INTO bench_raw (uid, kind, at) VALUES (%s, %s, %s)",
}


def _raw_rows(batch: Sequence[CallEvent]) -> list[tuple[str, str, str]]:
    return [(e.uid, type(e).__name__, e.at.isoformat()) for e in batch]


def _raw_cpu_s(engine: Any, work: Sequence[Sequence[CallEvent]]) -> float:
    """The same rows through the driver's executemany, a transaction per batch."""
    insert = _RAW_INSERT["qmark" if engine.dialect.paramstyle == "qmark" else "format"]
    conn = engine.raw_connection()
    try:
        cur = conn.cursor()
        cur.execute("CREATE TABLE IF NOT EXISTS bench_raw (uid TEXT, kind TEXT, at TEXT)")
        conn.commit()
        rows = [_raw_rows(b) for b in work]
        started = time.process_time()
        for batch in rows:
            cur.executemany(insert, batch)
            conn.commit()
        return time.process_time() - started
    finally:
        conn.close()


def _writer_cpu_s(log: SqlCallLog, work: Sequence[Sequence[CallEvent]]) -> float:
    started = time.process_time()
    for batch in work:
        log.record_many(batch)
    return time.process_time() - started


def _sampled_whole(log: SqlCallLog, calls: int, prefix: str) -> tuple[int, int]:
    """(written whole, checked) over up to 50 calls spread over the run: ended,
    routed, with their three menu steps."""
    sample = range(0, calls, max(1, calls // 50))
    whole = 0
    for n in sample:
        rec = log.get_call(f"{prefix}.{n}")
        whole += bool(
            rec is not None
            and rec.ended_at is not None
            and rec.decision is not None
            and len(rec.steps) == 3
        )
    return whole, len(sample)


def bench_store(url: str, calls: int, per_batch: int) -> dict[str, Any]:
    """Writer and raw CPU per call on one store (the lowest of ROUNDS passes each)."""
    engine = make_engine(url)
    try:
        migrate(engine)
        log = SqlCallLog(make_session_factory(engine), region="CN")
        writer, raw, whole = [], [], []
        for r in range(ROUNDS):
            prefix = f"w{r}"
            work = batches(calls, per_batch, prefix)
            raw.append(_raw_cpu_s(engine, batches(calls, per_batch, f"r{r}")))
            writer.append(_writer_cpu_s(log, work))
            whole.append(_sampled_whole(log, calls, prefix))
        best_writer, best_raw = min(writer), min(raw)
        return {
            "writer_cpu_ms": round(best_writer * 1000 / calls, 4),
            "raw_cpu_ms": round(best_raw * 1000 / calls, 4),
            "overhead_ratio": round(best_writer / best_raw, 2) if best_raw > 0 else None,
            "writer_cpu_ms_each_round": [round(w * 1000 / calls, 4) for w in writer],
            "sampled_calls_whole": [sum(w for w, _ in whole), sum(c for _, c in whole)],
            "events_per_call": round(sum(len(b) for b in work) / calls, 2),
            "batches": len(work),
        }
    finally:
        engine.dispose()


def run(calls: int, pg_url: str = "", per_batch: int = 15) -> dict[str, Any]:
    """SQLite always; PostgreSQL too when `pg_url` (an admin URL) is given."""
    from lab.bench.calllog import _pg_database

    out: dict[str, Any] = {"calls": calls, "per_batch": per_batch, "rounds": ROUNDS}
    work = Path(tempfile.mkdtemp(prefix="hotline-bench-writer-"))
    try:
        out["sqlite"] = bench_store(f"sqlite:///{work / 'writer.db'}", calls, per_batch)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    if pg_url:
        with _pg_database(pg_url, keep=False) as url:
            out["postgresql"] = bench_store(url, calls, per_batch)
    return out
