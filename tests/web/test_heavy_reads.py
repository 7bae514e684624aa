"""Heavy reads (issue 9, class 9): reports from daily rollups show the figures the live
computation showed; heavy requests run in a bounded pool with a statement timeout
(503 with Retry-After, never a 500 or a hang) while light requests answer; exports
stream in bounded chunks. Both databases."""

from __future__ import annotations

import csv
import io
import time
from collections.abc import Iterator
from datetime import date, datetime, timedelta
from typing import Any

import pytest
from flask import Flask
from sqlalchemy import event

from ivr.adapters.db import engine as db_engine
from ivr.adapters.db.engine import normalize_url
from ivr.bootstrap import Runtime
from ivr.domain import metrics
from ivr.domain.metrics import ANSWERED, ServiceTarget
from lab.bench import calllog as bench
from web import heavy, queries
from web.app import close_app
from web.report_data import figures_json

from .conftest import make_app


def bulk(rt: Runtime, n: int) -> None:
    """`n` generated calls over the year up to now, loaded past the call-log writer
    (as the benchmark does): their rollups do not exist until a report asks."""
    agents = [(a.id, a.seat) for a in rt.config.roster.agents]
    rows = bench.generate(n, rt.clock(), rt.config.site.tz, agents, seed=3)
    if rt.engine.dialect.name == "sqlite":
        bench.load_sqlite(rt.engine, rows)
    else:
        url = normalize_url(rt.config.database_url).render_as_string(hide_password=False)
        bench.load_postgresql(url, rows)


@pytest.fixture
def small_pool(web_runtime: Runtime) -> Iterator[Flask]:
    app = make_app(web_runtime, heavy_slots=1, heavy_wait_seconds=0.0)
    try:
        yield app
    finally:
        close_app(app)


def old_report(rt: Runtime, first: date, last: date, period: str) -> dict[str, Any]:
    """The report figures as computed before the rollups: every call through metrics."""
    tz = rt.config.site.tz
    start = datetime.combine(first, datetime.min.time(), tz)
    end = datetime.combine(last + timedelta(days=1), datetime.min.time(), tz)
    target = ServiceTarget(20.0, 0.8)
    with rt.sessions() as s:
        facts = queries.facts(s, start, end)
    per_agent = metrics.grouped(facts, lambda f: f.agent if f.outcome == ANSWERED else None, target)
    per_branch = metrics.grouped(facts, lambda f: f.branch or "(menu)", target)
    return {
        "team": figures_json(metrics.figures(metrics.tally(facts, target))),
        "periods": [
            {"start": str(k), **figures_json(v)}
            for k, v in metrics.by_period(facts, tz, period, target).items()
        ],
        "agents": [{"agent": str(k), **figures_json(v)} for k, v in per_agent.items()],
        "branches": [{"branch": str(k), **figures_json(v)} for k, v in per_branch.items()],
    }


def same_figures(got: Any, want: Any) -> None:
    if isinstance(want, dict):
        assert got.keys() >= want.keys()
        for k in want:
            same_figures(got[k], want[k])
    elif isinstance(want, list):
        assert len(got) == len(want)
        for a, b in zip(got, want, strict=True):
            same_figures(a, b)
    elif isinstance(want, float):
        assert got == pytest.approx(want, rel=1e-9)
    else:
        assert got == want


def test_reports_from_rollups_show_the_figures_of_the_live_computation(
    web_runtime: Runtime, client, web_users, login, calls, t0
) -> None:
    rt = web_runtime
    bulk(rt, 4000)
    login(client, "boss")
    first, last = date(2026, 7, 1), date(2026, 11, 23)
    for period in ("day", "week", "month"):
        url = f"/api/reports?period={period}&from={first}&to={last}"
        r = client.get(url)
        assert r.status_code == 200, r.get_json()
        same_figures(r.get_json(), old_report(rt, first, last, period))
    # calls written through the call log after the days were rolled up: a call that
    # was in progress ends, new ones come in; the next report counts each once
    uid = calls.call(t0 - timedelta(hours=1), ended=False, wait=12, agent="chen", seat="seat2")
    calls.call(t0 - timedelta(days=30), branch="repairs", wait=50)
    calls.call(t0 - timedelta(minutes=5), wait=3, talk=30, agent="li", seat="seat3")
    from ivr.domain.calllog import CallEnded

    rt.calls.record(CallEnded(uid, t0 - timedelta(minutes=20), "16"))
    rt.calls.record(CallEnded(uid, t0 - timedelta(minutes=20), "16"))  # replayed
    r = client.get(f"/api/reports?period=day&from={first}&to={last}")
    same_figures(r.get_json(), old_report(rt, first, last, "day"))
    assert r.get_json()["team"]["offered"] == old_report(rt, first, last, "day")["team"]["offered"]
    assert client.get(f"/reports?period=week&from={first}&to={last}").status_code == 200


def test_a_full_pool_answers_503_with_retry_after_and_light_requests_still_answer(
    small_pool: Flask, web_users, login, calls, t0
) -> None:
    calls.call(t0 - timedelta(hours=1), wait=5, talk=60, agent="chen", seat="seat2")
    client = small_pool.test_client()
    login(client, "boss")
    export = client.get("/calls/export.csv")  # streaming, not read yet: holds the one slot
    assert export.is_streamed
    started = time.monotonic()
    r = client.get("/api/reports")
    assert r.status_code == 503
    assert r.headers["Retry-After"] == "5"
    assert "retry in 5 seconds" in r.get_json()["error"]
    assert time.monotonic() - started < 1  # refused at once, not after a hang
    page = client.get("/reports")
    assert page.status_code == 503 and page.headers["Retry-After"] == "5"
    assert "Too many reports and exports" in page.get_data(as_text=True)
    zh = client.get("/reports", headers={"Accept-Language": "zh-CN"})
    assert zh.status_code == 503 and "同时运行的报表和导出过多" in zh.get_data(as_text=True)
    assert client.get("/api/calls").status_code == 503  # the call list scans the log too
    me = client.get("/api/me")
    assert me.status_code == 200 and me.get_json()["username"] == "boss"
    assert "chen" in export.get_data(as_text=True)  # the stream ends: the slot is free
    export.close()
    assert client.get("/api/reports").status_code == 200


class _SlowClock:
    """time for the SQLite deadline check: a second passes at every reading, so a
    statement is past any deadline at SQLite's first progress check, however fast
    this machine runs it (a real 1 ms timeout raced the query: a CI flake)."""

    def __init__(self) -> None:
        self._now = time.monotonic()

    def monotonic(self) -> float:
        self._now += 1.0
        return self._now


def test_a_statement_past_the_timeout_is_a_503_never_a_500(
    web_runtime: Runtime, web_users, login, monkeypatch: pytest.MonkeyPatch
) -> None:
    bulk(web_runtime, 30_000)
    # SQLite: the deadline's clock runs fast (see _SlowClock); PostgreSQL cuts the
    # statement off itself, after 1 ms of a 30,000-row scan.
    monkeypatch.setattr(db_engine, "time", _SlowClock())
    app = make_app(web_runtime, heavy_slots=1, heavy_wait_seconds=0.0, heavy_timeout_seconds=0.001)
    try:
        client = app.test_client()
        login(client, "boss")
        for _ in range(2):  # the slot is given back after a timeout: "too slow" again, not "busy"
            r = client.get("/api/calls?page=500&per_page=50&outcome=answered")
            assert r.status_code == 503, r.get_data(as_text=True)
            assert "took too long" in r.get_json()["error"]
            assert r.headers["Retry-After"] == "5"
        page = client.get("/calls?page=5000")
        assert page.status_code == 503
        assert "took too long" in page.get_data(as_text=True)
        assert client.get("/api/me").status_code == 200  # the light pool has no such limit
    finally:
        close_app(app)


def test_an_export_streams_in_chunks_of_bounded_size(
    web_runtime: Runtime, client, app, web_users, login, monkeypatch: pytest.MonkeyPatch
) -> None:
    bulk(web_runtime, 5000)
    monkeypatch.setattr(queries, "EXPORT_CHUNK", 700)
    engine = app.extensions[heavy.EXTENSION].sessions.kw["bind"]
    limits: list[str] = []

    @event.listens_for(engine, "before_cursor_execute")
    def _seen(conn: Any, cursor: Any, statement: str, *_: Any) -> None:
        if "FROM calls" in statement and "LIMIT" in statement.upper():
            limits.append(statement)

    login(client, "boss")
    r = client.get("/calls/export.csv")
    assert r.is_streamed
    body = iter(r.response)
    first = next(body)
    assert first.startswith(b"uid,started_at")
    assert len(limits) == 1  # one chunk read so far, not the whole range
    text = first.decode() + b"".join(body).decode()
    r.close()
    rows = list(csv.reader(io.StringIO(text)))[1:]
    assert len(rows) == 5000 and len({row[0] for row in rows}) == 5000
    assert len(limits) == 8  # 5000 rows in queries of at most 700
    starts = [row[1] for row in rows]
    assert starts == sorted(starts, reverse=True)


def test_keyset_chunks_neither_skip_nor_repeat_calls_with_the_same_start(
    web_runtime: Runtime, calls, t0
) -> None:
    for _ in range(7):
        calls.call(t0 - timedelta(hours=2), wait=5)
    calls.call(t0 - timedelta(hours=3), wait=5)
    f = queries.CallFilter()
    with web_runtime.sessions() as s:
        want, _ = queries.list_calls(s, f, None, 1, 100)
    got = list(queries.iter_calls(web_runtime.sessions, f, None, 100, chunk=2))
    assert [c.uid for c in got] == [c.uid for c in want]
    assert len(list(queries.iter_calls(web_runtime.sessions, f, None, 5, chunk=2))) == 5


def test_the_rollups_command_computes_the_days_ahead(
    web_runtime: Runtime, calls, t0, monkeypatch: pytest.MonkeyPatch, capsys
) -> None:
    from cli.main import main
    from ivr.adapters.db import rollups

    calls.call(t0 - timedelta(days=2), wait=5, talk=60, agent="chen", seat="seat2")
    url = web_runtime.engine.url.render_as_string(hide_password=False)
    monkeypatch.setenv("HOTLINE_DATABASE_URL", url)
    monkeypatch.setenv("HOTLINE_DATA_DIR", str(web_runtime.config.data_dir))
    monkeypatch.setenv("HOTLINE_NOW", t0.isoformat())
    assert main(["rollups", "--days", "10", "--config", "config"]) == 0
    assert "10 days computed" in capsys.readouterr().out
    tz = web_runtime.config.site.tz
    today = t0.astimezone(tz).date()
    stored = rollups.read(web_runtime.sessions, tz, 20.0, today - timedelta(days=9), today)
    assert {(r.day, r.kind, r.key) for r in stored} == {
        (today - timedelta(days=2), rollups.BRANCH, "enquiries"),
        (today - timedelta(days=2), rollups.AGENT, "chen"),
    }
    assert main(["rollups", "--days", "10", "--config", "config"]) == 0
    assert "0 days computed" in capsys.readouterr().out  # current already: nothing redone


@pytest.mark.parametrize(
    "option",
    [
        {"heavy_slots": 0},
        {"heavy_slots": 65},
        {"heavy_wait_seconds": -1.0},
        {"heavy_wait_seconds": float("nan")},
        {"heavy_timeout_seconds": 0.0},
        {"heavy_timeout_seconds": float("inf")},
    ],
)
def test_heavy_pool_settings_out_of_range_are_refused(option: dict[str, Any]) -> None:
    from web.settings import WebSettings

    with pytest.raises(ValueError, match=next(iter(option))):
        WebSettings(**option)
