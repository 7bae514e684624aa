"""`hotline bench ivr` at a small rate: the figures it prints come from real calls.

Speed is not asserted here (benchmarks print ratios, tests do not time); what is
asserted is that the bench measures what it says: every IVR call went through
the FastAGI menu and decision and left a completed call record, the baseline
ran beside it, and the JSON has the fields the issue names.

Runs before tests/e2e (directory order): the bench brings its own hotline
service on the FastAGI port and stops the sandbox Asterisk when done.
"""

from __future__ import annotations

import os

import pytest

from lab.bench.ivr_load import run_ivr_bench

RATE, SECONDS = 10, 3
CALLS = RATE * SECONDS


@pytest.mark.e2e
@pytest.mark.skipif(os.geteuid() != 0, reason="the sandbox needs root (chroot)")
def test_small_ivr_bench_runs_every_call_through_the_ivr() -> None:
    result = run_ivr_bench(RATE, SECONDS)

    assert "errors" not in result, result.get("errors")
    ivr, baseline = result["ivr"], result["baseline"]
    assert result["rate"] == RATE
    assert baseline["placed"] == ivr["placed"] == CALLS
    assert baseline["failed"] == 0 and ivr["failed"] == 0, (baseline, ivr)
    assert baseline["completed_cps"] == ivr["completed_cps"] == RATE
    assert result["ratio"] == 1.0
    # every IVR call reached the routing decision, and its record is complete
    assert ivr["decisions"] == CALLS
    assert 0 < ivr["p50_ms"] <= ivr["p99_ms"]
    assert result["records"] == {"total": CALLS, "completed": CALLS, "placed": CALLS}
    # both runs started and ended with Asterisk drained, and were watched
    for run in (baseline, ivr):
        assert run["start_channels"] == 0 and run["left_channels"] == 0
        assert run["max_channels"] > 0
        assert run["asterisk_cpu_pct"] is not None and run["asterisk_cpu_pct"] > 0
        assert run["failed_by"] == {}
        assert run["host_steal_pct"] is not None  # a shared machine's noise, reported
