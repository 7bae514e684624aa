"""`hotline bench writer` on a few calls: the figures are for whole calls, on both stores."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

import pytest

from cli.main import main
from ivr.adapters.db.calllog import SqlCallLog
from ivr.adapters.db.engine import make_engine, make_session_factory
from ivr.domain.calllog import CallEnded, CallStarted, MenuStep, Routed
from lab.bench.writer import ROUNDS, batches, bench_store
from tests.dbs import BACKENDS, temporary_database


def test_the_batches_follow_the_ivr_bench_call() -> None:
    work = batches(40, 15, "t")
    # three batches per group of 15 calls: start, key and routing, end
    assert len(work) == 9
    assert [len(b) for b in work[:3]] == [30, 45, 15]
    assert [len(b) for b in work[-3:]] == [20, 30, 10]  # the last group has 10 calls
    per_call = Counter(e.uid for b in work for e in b)
    assert len(per_call) == 40 and set(per_call.values()) == {6}
    kinds = [type(e) for e in work[1] if e.uid == "t.0"]
    assert kinds == [MenuStep, MenuStep, Routed]
    assert all(isinstance(e, CallStarted | MenuStep) for e in work[0])
    assert all(isinstance(e, CallEnded) for e in work[2])


@pytest.mark.parametrize(
    "backend",
    [pytest.param(b, marks=[pytest.mark.postgres] if b == "postgresql" else []) for b in BACKENDS],
)
def test_a_small_run_writes_every_call_whole_and_reports_its_cost(
    backend: str, tmp_path: Path
) -> None:
    with temporary_database(backend, tmp_path) as url:
        figures = bench_store(url, 30, 15)
        engine = make_engine(url)
        try:
            log = SqlCallLog(make_session_factory(engine), region="CN")
            records = [log.get_call(f"w{r}.{n}") for r in range(ROUNDS) for n in range(30)]
        finally:
            engine.dispose()
    assert figures["sampled_calls_whole"] == [30 * ROUNDS, 30 * ROUNDS]
    assert all(r is not None and r.ended_at and r.decision and len(r.steps) == 3 for r in records)
    assert figures["writer_cpu_ms"] > 0 and figures["raw_cpu_ms"] > 0
    assert figures["writer_cpu_ms"] == min(figures["writer_cpu_ms_each_round"])
    assert figures["overhead_ratio"] == pytest.approx(
        figures["writer_cpu_ms"] / figures["raw_cpu_ms"], rel=0.05
    )
    assert figures["batches"] == 6


def test_the_command_prints_the_sqlite_figures_as_json(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["bench", "writer", "--calls", "20", "--pg-url", "", "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["calls"] == 20 and "postgresql" not in out
    assert out["sqlite"]["sampled_calls_whole"] == [20 * ROUNDS, 20 * ROUNDS]
