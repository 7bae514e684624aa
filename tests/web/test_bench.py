"""`hotline bench calllog` on a small call set: realistic mix, JSON shape, both backends."""

from __future__ import annotations

from collections import Counter
from datetime import datetime
from zoneinfo import ZoneInfo

import pytest
from dbs import PG_ADMIN_URL

from lab.bench.calllog import generate, run

TZ = ZoneInfo("Asia/Shanghai")


def test_generated_calls_are_realistic() -> None:
    now = datetime(2026, 11, 23, 15, 0, tzinfo=TZ)
    rows = list(generate(20_000, now, TZ, [("chen", "seat2"), ("li", "seat3")]))
    outcomes = Counter(r[18] for r in rows)
    assert 0.07 < outcomes["abandoned_waiting"] / len(rows) < 0.13  # ~10 % abandoned in queue
    assert 0.06 < outcomes["abandoned_in_menu"] / len(rows) < 0.10
    hours = Counter(r[7].astimezone(TZ).hour for r in rows)
    assert hours[10] > 10 * hours[3]  # open-hour peak, night trickle
    assert all(r[7] <= now for r in rows)
    assert {r[17] for r in rows if r[18] == "answered"} == {"chen", "li"}
    assert all(r[11] is None for r in rows if r[18] == "abandoned_in_menu")


@pytest.mark.postgres
def test_bench_prints_the_required_figures() -> None:
    result = run(3000, "config", pg_url=PG_ADMIN_URL, queries=20, reports=5)
    assert result["calls"] == 3000
    for backend in ("sqlite", "postgresql"):
        b = result[backend]
        assert b["list_p95_ms"] < 200
        assert b["stats_p95_ms"] < 200
        # the 400-day report and /api/me under 8 parallel reports (shape and sanity, not timing)
        assert b["report_days"] == 400
        assert 0 < b["report_median_ms"] <= b["report_p95_ms"]
        assert b["report_first_ms"] > 0
        assert b["me_alone_p95_ms"] > 0 and b["me_under_8_reports_p95_ms"] > 0
        assert b["me_under_load_ratio"] == pytest.approx(
            b["me_under_8_reports_p95_ms"] / b["me_alone_p95_ms"], rel=0.01
        )
        load = b["reports_under_load"]
        assert load["done"] > 0 and load["other_errors"] == 0
        assert load["http_503"] >= 0
        ex = b["exports"]
        assert ex["parallel"] == 2 and ex["statuses"] == [200] * 2  # one per heavy slot
        assert all(mb > 0 for mb in ex["mb_each"]) and ex["slowest_s"] > 0
        assert ex["peak_rss_mb"] > 0 and b["peak_rss_mb_under_8_reports"] > 0


def test_generated_cases_are_mostly_done_with_unique_numbers() -> None:
    from lab.bench.cases import generate as generate_cases

    now = datetime(2026, 11, 23, 15, 0, tzinfo=TZ)
    rows = list(generate_cases(20_000, now, TZ, ["chen", "li"]))
    numbers = [r[0] for r in rows]
    assert len(set(numbers)) == len(numbers)
    active = sum(1 for r in rows if r[3] not in ("resolved", "closed"))
    assert 0.01 < active / len(rows) < 0.05
    assert all(r[10] <= now for r in rows)


@pytest.mark.postgres
def test_cases_bench_prints_board_and_search_figures() -> None:
    from lab.bench.cases import run as run_cases

    result = run_cases(3000, "config", pg_url=PG_ADMIN_URL, queries=20)
    assert result["cases"] == 3000 and result["met"] is True
    for backend in ("sqlite", "postgresql"):
        assert result[backend]["board_p95_ms"] < 200
        assert result[backend]["search_p95_ms"] < 200
