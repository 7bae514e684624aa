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

from lab.bench.ivr_load import RateSearch, find_max, run_ivr_bench

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
    assert result["records"] == {"total": CALLS, "completed": CALLS, "placed": CALLS, "shed": 0}
    assert (ivr["admitted"], ivr["shed"], ivr["max_in_ivr"]) == (CALLS, 0, 200)
    # both runs started and ended with Asterisk drained, and were watched
    for run in (baseline, ivr):
        assert run["start_channels"] == 0 and run["left_channels"] == 0
        assert run["max_channels"] > 0
        assert run["asterisk_cpu_pct"] is not None and run["asterisk_cpu_pct"] > 0
        assert run["failed_by"] == {}
        assert run["host_steal_pct"] is not None  # a shared machine's noise, reported
    # a probe caller dialled at the burst's end was served, and is not in the figures
    recovery = ivr["recovery"]
    assert recovery["recovery_s"] is not None and recovery["placed"] >= 1, recovery


@pytest.mark.e2e
@pytest.mark.skipif(os.geteuid() != 0, reason="the sandbox needs root (chroot)")
def test_over_the_admission_limit_calls_are_shed_and_every_call_has_a_record() -> None:
    # Each bench caller spends over a second in the IVR; at 10 calls/s about a dozen
    # are there at once, so a limit of 2 turns most away.
    result = run_ivr_bench(RATE, SECONDS, max_in_ivr=2)

    assert "errors" not in result, result.get("errors")
    ivr, records = result["ivr"], result["records"]
    assert ivr["placed"] == CALLS and ivr["failed"] == 0, ivr
    assert ivr["max_in_ivr"] == 2
    assert ivr["shed"] > 0 and ivr["admitted"] >= 2
    assert ivr["admitted"] + ivr["shed"] == CALLS
    # the admitted were served: each reached the routing decision
    assert ivr["decisions"] == ivr["admitted"]
    assert records["total"] == records["completed"] == records["placed"] == CALLS
    assert records["shed"] == ivr["shed"]
    # once the burst ended a probe caller got in and was routed (back to normal)
    recovery = ivr["recovery"]
    assert recovery["recovery_s"] is not None, recovery
    assert recovery["placed"] == recovery["shed"] + 1


@pytest.mark.e2e
@pytest.mark.skipif(os.geteuid() != 0, reason="the sandbox needs root (chroot)")
def test_find_max_steps_the_three_paths_with_the_same_callers() -> None:
    # Rates far below the machine's limits: every path sustains both steps, so
    # each ends "capped" by the top of the search, and the ratios are 1.
    result = find_max(start=4, step=4, top=8, seconds=2)

    assert "errors" not in result, result.get("errors")
    assert [(s["path"], s["rate"], s["try"]) for s in result["steps"]] == [
        (p, r, 1) for r in (4, 8) for p in ("baseline", "menu", "ivr")
    ]
    assert all(s["sustained"] for s in result["steps"]), result["steps"]
    for path in ("baseline", "menu", "ivr"):
        assert result[path]["max_cps"] == 8 and result[path]["capped"]
    assert result["capacity_ratio"] == 1.0 and result["bare_ratio"] == 1.0
    per_call = result["per_call"]
    # Only the IVR path talks AGI: one dialog per call, a command for the menu's
    # prompt and key and one for the route variables at least.
    assert per_call["baseline"]["agi_dialogs"] == per_call["menu"]["agi_dialogs"] == 0
    assert per_call["ivr"]["agi_dialogs"] == 1.0 and per_call["ivr"]["agi_round_trips"] >= 2
    assert per_call["ivr"]["hotline_cpu_ms"] > 0 and per_call["menu"]["asterisk_cpu_ms"] > 0
    at_max = result["ivr"]["at_max"]
    assert at_max["records"]["total"] == at_max["placed"] == 16 and at_max["shed"] == 0


def _figures(held: bool) -> dict[str, object]:
    """What a run of the menu path reports, holding its rate or not."""
    return {"failed": 0 if held else 3, "placed": 40, "left_channels": 0, "completed_cps": 4.0}


def test_a_rate_fails_a_path_only_after_every_try_fails() -> None:
    # menu: its first run at 8/s falls over, the second holds; at 12/s both fail.
    # bare: holds everything. A path dropped is not run again.
    outcomes: dict[tuple[str, float], list[bool]] = {
        ("menu", 8): [False, True],
        ("menu", 12): [False, False],
    }
    runs: list[tuple[str, float]] = []

    def run(path: str, rate: float) -> dict[str, object]:
        runs.append((path, rate))
        left = outcomes.get((path, rate))
        return _figures(left.pop(0) if left else True)

    search = RateSearch(("baseline", "menu"), tries=2)
    for rate in (4, 8, 12, 16):
        search.step(rate, run)

    assert runs == [
        ("baseline", 4), ("menu", 4),
        ("baseline", 8), ("menu", 8), ("menu", 8),
        ("baseline", 12), ("menu", 12), ("menu", 12),
        ("baseline", 16),
    ]  # fmt: skip
    assert search.best["menu"] is not None and search.best["menu"]["rate"] == 8
    assert search.best["baseline"] is not None and search.best["baseline"]["rate"] == 16
    assert search.standing == ["baseline"]
    menu_runs = [(s["rate"], s["try"], s["sustained"]) for s in search.steps if s["path"] == "menu"]
    assert menu_runs == [(4, 1, True), (8, 1, False), (8, 2, True), (12, 1, False), (12, 2, False)]


def test_with_one_try_the_first_failure_ends_a_path() -> None:
    search = RateSearch(("menu",), tries=1)
    search.step(4, lambda path, rate: _figures(held=False))
    assert search.standing == [] and search.best == {"menu": None}
    assert [s["try"] for s in search.steps] == [1]


def test_a_run_that_ended_in_an_error_does_not_hold_its_rate() -> None:
    errors = iter([{"error": "SippError: sipp did not finish within 70 s"}, _figures(held=True)])
    search = RateSearch(("menu",), tries=2)
    search.step(4, lambda path, rate: next(errors))
    assert [(s["try"], s["sustained"], s.get("error")) for s in search.steps] == [
        (1, False, "SippError: sipp did not finish within 70 s"),
        (2, True, None),
    ]
    assert search.standing == ["menu"]
