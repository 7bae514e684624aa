"""`hotline bench calllog`: a realistic million calls, then the call-log page query and the
board's statistics of today, timed on SQLite and PostgreSQL.

Generation: one year up to now; weekdays busier than weekends; arrivals peak at 10:00
and 14:30 inside open hours, a trickle at night; 8 % abandoned in the menu, 10 % in the
queue, 5 % callbacks, 2 % voicemail; branches, agents, repeat callers. Loading uses
executemany in batches (SQLite) and COPY (PostgreSQL) after the real migrations.
Measured: `web.queries.list_calls` with random filters and pages, and
`web.board_data.snapshot` (today's tally, live calls, seats, staffing) — the code the
pages run; then, through the production server over HTTP, the 400-day report (first
run: every day's rollup computed; then p95 with a new call written before each run)
and /api/me alone and while 8 reports run without pause (`measure_reports`).
"""

from __future__ import annotations

import http.client
import math
import random
import re
import shutil
import statistics
import tempfile
import threading
import time
import uuid
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

from sqlalchemy import select

from ivr.adapters.db.models import Call
from ivr.adapters.progress import progress
from ivr.bootstrap import build_runtime
from ivr.domain.calllog import CallAnswered, CallEnded, CallStarted, Routed
from web import board_data, queries
from web.settings import WebSettings

COLUMNS = (
    "uid",
    "caller",
    "caller_name",
    "dialed",
    "channel",
    "source",
    "language",
    "started_at",
    "routed_at",
    "answered_at",
    "ended_at",
    "branch",
    "route_kind",
    "route_target",
    "priority",
    "vip",
    "answered_seat",
    "answered_agent",
    "outcome",
    "hangup_cause",
    "wait_seconds",
    "talk_seconds",
)
# Relative arrivals per half hour of the local day (48 slots): night trickle, open-hour peaks.
_HOURLY = [1, 1, 1, 1, 1, 1, 2, 4, 10, 30, 45, 40, 20, 18, 35, 42, 38, 30, 12, 8, 6, 4, 3, 2]
SLOT_WEIGHTS = [w for h in _HOURLY for w in (h, h)]
BRANCHES = (
    ("enquiries", 0.5, 1),
    ("complaints", 0.2, 2),
    ("repairs", 0.25, 3),
    ("emergency", 0.05, 10),
)


def generate(
    n: int, now: datetime, tz: Any, agents: list[tuple[str, str]], seed: int = 7
) -> Iterator[tuple[Any, ...]]:
    """`n` ended calls over the 365 days up to `now` (plus a few live ones at the end)."""
    rng = random.Random(seed)
    today = now.astimezone(tz).replace(hour=0, minute=0, second=0, microsecond=0)
    days = [today - timedelta(days=d) for d in range(365)]
    day_w = [0.4 if d.weekday() >= 5 else 1.0 for d in days]
    numbers = [f"13{rng.randrange(10**9):09d}" for _ in range(200_000)]
    branch_names = [b[0] for b in BRANCHES]
    branch_w = [b[1] for b in BRANCHES]
    prio = {b[0]: b[2] for b in BRANCHES}
    day_pick = rng.choices(days, day_w, k=n)
    slot_pick = rng.choices(range(48), SLOT_WEIGHTS, k=n)
    for i in progress(range(n), "generating calls", total=n):
        start = day_pick[i] + timedelta(seconds=slot_pick[i] * 1800 + rng.random() * 1800)
        if start > now:
            start = now - timedelta(seconds=rng.random() * 3600 * 8)
        caller = numbers[int(rng.paretovariate(1.2) * 50) % len(numbers)]
        r = rng.random()
        branch = rng.choices(branch_names, branch_w)[0]
        menu = rng.uniform(4, 25)
        routed: datetime | None = start + timedelta(seconds=menu)
        branch_or_none: str | None = branch
        agent: str | None = None
        seat: str | None = None
        answered: datetime | None = None
        talk = wait = None
        kind: str | None = "queue"
        if r < 0.08:
            outcome, branch_or_none, kind, routed = "abandoned_in_menu", None, None, None
            ended = start + timedelta(seconds=menu)
        elif r < 0.18:
            outcome, wait = "abandoned_waiting", rng.expovariate(1 / 35)
            ended = start + timedelta(seconds=menu + wait)
        elif r < 0.23:
            outcome, kind, wait = "callback_requested", "callback", rng.uniform(2, 10)
            ended = start + timedelta(seconds=menu + wait)
        elif r < 0.25:
            outcome, kind, wait = "voicemail", "voicemail", rng.uniform(20, 60)
            ended = start + timedelta(seconds=menu + wait)
        else:
            outcome, wait = "answered", rng.expovariate(1 / 14)
            talk = rng.lognormvariate(math.log(150), 0.6)
            agent, seat = agents[rng.randrange(len(agents))]
            answered = start + timedelta(seconds=menu + wait)
            ended = answered + timedelta(seconds=talk)
        yield (
            uuid.UUID(int=rng.getrandbits(128)).hex,
            caller,
            "",
            "4000",
            "",
            "fastagi",
            "zh-CN",
            start,
            routed,
            answered,
            ended,
            branch_or_none,
            kind,
            branch_or_none if kind else None,
            prio.get(branch_or_none or "", 0),
            False,
            seat,
            agent,
            outcome,
            "16",
            wait,
            talk,
        )


def _sqlite_ts(t: datetime | None) -> str | None:
    # The format SQLAlchemy's DateTime stores on SQLite (naive UTC text).
    return None if t is None else t.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S.%f")


CALL_TIMES = ("started_at", "routed_at", "answered_at", "ended_at")


def load_sqlite(
    engine: Any,
    rows: Iterator[tuple[Any, ...]],
    batch: int = 50_000,
    table: str = "calls",
    columns: tuple[str, ...] = COLUMNS,
    times: tuple[str, ...] = CALL_TIMES,
) -> None:
    """Rows into `table` by executemany in one transaction, then ANALYZE."""
    ts = {columns.index(c) for c in times}
    # table and column names are constants of the benchmarks, never input
    sql = f"INSERT INTO {table} ({', '.join(columns)}) VALUES ({', '.join('?' * len(columns))})"  # noqa: S608
    raw = engine.raw_connection()
    try:
        cur = raw.cursor()
        cur.execute("BEGIN")
        chunk: list[tuple[Any, ...]] = []
        for row in rows:
            chunk.append(tuple(_sqlite_ts(v) if i in ts else v for i, v in enumerate(row)))
            if len(chunk) >= batch:
                cur.executemany(sql, chunk)
                chunk.clear()
        if chunk:
            cur.executemany(sql, chunk)
        cur.execute("COMMIT")
        cur.execute("ANALYZE")
    finally:
        raw.close()


def load_postgresql(
    url: str,
    rows: Iterator[tuple[Any, ...]],
    table: str = "calls",
    columns: tuple[str, ...] = COLUMNS,
) -> None:
    """Rows into `table` by COPY, then VACUUM ANALYZE."""
    import psycopg

    with psycopg.connect(_libpq(url)) as conn:
        with conn.cursor() as cur:
            with cur.copy(f"COPY {table} ({', '.join(columns)}) FROM STDIN") as copy:
                for row in rows:
                    copy.write_row(row)
        conn.commit()
        conn.autocommit = True
        conn.execute(f"VACUUM ANALYZE {table}")


def p95_ms(samples: list[float]) -> float:
    return round(statistics.quantiles(samples, n=20, method="inclusive")[18] * 1000, 2)


def measure(rt: Any, runs: int, seed: int = 11) -> dict[str, float]:
    rng = random.Random(seed)
    tz = rt.config.site.tz
    now = rt.clock()
    agents = [a.id for a in rt.config.roster.agents]
    today = now.astimezone(tz).replace(hour=0, minute=0, second=0, microsecond=0)
    with rt.sessions() as s:
        prefixes = [c[:7] for c in s.scalars(select(Call.caller).limit(500))]

    def random_filter() -> tuple[queries.CallFilter, str | None]:
        week = today - timedelta(days=rng.randrange(0, 300))
        choice = rng.randrange(7)
        if choice == 0:
            return queries.CallFilter(), None
        if choice == 1:
            return queries.CallFilter(agent=rng.choice(agents)), None
        if choice == 2:
            return queries.CallFilter(
                start=week, end=week + timedelta(days=7), branch=rng.choice(BRANCHES)[0]
            ), None
        if choice == 3:
            return queries.CallFilter(
                outcome="abandoned_waiting", start=week, end=week + timedelta(days=1)
            ), None
        if choice == 4:
            return queries.CallFilter(number=rng.choice(prefixes)), None
        if choice == 5:
            return queries.CallFilter(start=week, end=week + timedelta(days=7)), rng.choice(agents)
        return queries.CallFilter(
            start=week, end=week + timedelta(days=30), outcome="answered", agent=rng.choice(agents)
        ), None

    settings = WebSettings()
    list_t: list[float] = []
    stats_t: list[float] = []
    for _ in range(runs):
        f, only = random_filter()
        with rt.sessions() as s:
            t = time.perf_counter()
            rows, _more = queries.list_calls(s, f, only, rng.randrange(1, 6), 50)
            list_t.append(time.perf_counter() - t)
        with rt.sessions() as s:
            t = time.perf_counter()
            board_data.snapshot(rt, settings, s, rt.clock())
            stats_t.append(time.perf_counter() - t)
    return {
        "list_p95_ms": p95_ms(list_t),
        "stats_p95_ms": p95_ms(stats_t),
        "list_median_ms": round(statistics.median(list_t) * 1000, 2),
        "stats_median_ms": round(statistics.median(stats_t) * 1000, 2),
    }


# --- the 400-day report and /api/me under load, over real HTTP -----------------------

REPORT_DAYS = 400
PARALLEL_REPORTS = 8
_CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')


def _get(conn: http.client.HTTPConnection, path: str, cookie: str) -> tuple[int, float]:
    t = time.perf_counter()
    conn.request("GET", path, headers={"Cookie": cookie})
    resp = conn.getresponse()
    resp.read()
    return resp.status, time.perf_counter() - t


def _sign_in(port: int, username: str, password: str) -> str:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=120)
    conn.request("GET", "/login")
    resp = conn.getresponse()
    cookie = resp.getheader("Set-Cookie", "").split(";")[0]
    m = _CSRF.search(resp.read().decode())
    if m is None:
        raise RuntimeError("no CSRF token on the login page")
    body = urlencode({"username": username, "password": password, "csrf_token": m.group(1)})
    headers = {"Content-Type": "application/x-www-form-urlencoded", "Cookie": cookie}
    conn.request("POST", "/login", body, headers)
    resp = conn.getresponse()
    resp.read()
    if resp.status != 302:
        raise RuntimeError(f"sign-in failed: HTTP {resp.status}")
    conn.close()
    return resp.getheader("Set-Cookie", "").split(";")[0] or cookie


def _rss_mb(field: str = "VmRSS") -> float | None:
    """This process's resident memory (VmRSS) or its peak since the last reset (VmHWM)."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith(field + ":"):
                return round(int(line.split()[1]) / 1024, 1)
    except OSError:
        pass
    return None


def _reset_peak_rss() -> None:
    """Linux: make VmHWM start again from the current RSS (/proc/self/clear_refs, "5")."""
    try:
        Path("/proc/self/clear_refs").write_text("5")
    except OSError:
        pass


def _export(port: int, path: str, cookie: str) -> tuple[int, int, float]:
    """Download a CSV export, reading it in 64 KiB pieces: status, bytes, seconds."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=600)
    try:
        t = time.perf_counter()
        conn.request("GET", path, headers={"Cookie": cookie})
        resp = conn.getresponse()
        size = 0
        while piece := resp.read(65536):
            size += len(piece)
        return resp.status, size, time.perf_counter() - t
    finally:
        conn.close()


def _one_call(rt: Any, n: int) -> None:
    """A call through the call log, as the FastAGI service writes it: today changes."""
    now = rt.clock()
    uid = f"bench-{uuid.uuid4().hex}-{n}"
    rt.calls.record_many(
        [
            CallStarted(uid, now - timedelta(seconds=60), "13800000001", source="fastagi"),
            Routed(uid, now - timedelta(seconds=50), "enquiries", "queue", "enquiries"),
            CallAnswered(uid, now - timedelta(seconds=40), "seat2", "chen"),
            CallEnded(uid, now, "16"),
        ]
    )


def measure_reports(rt: Any, runs: int, me_samples: int = 200) -> dict[str, Any]:
    """The 400-day report (p95 of `runs`, a new call written before each, so today is
    recomputed) and /api/me alone and while 8 such reports run without pause (and a
    call is written every 50 ms), through the production server (cheroot) over HTTP;
    then one CSV export of the whole range per heavy slot, at once. Peak RSS (Linux) of
    this process, which serves the app, during each phase."""
    from web import heavy, store
    from web.app import close_app, create_app
    from web.server import WebServer

    password = f"bench-{uuid.uuid4().hex}"
    with rt.sessions.begin() as s:
        store.add_user(s, "bench", password, "manager", None, rt.clock())
    app = create_app(rt, secret_key=uuid.uuid4().hex, secure_cookies=False)
    server = WebServer(app, "127.0.0.1", 0).start()
    try:
        cookie = _sign_in(server.port, "bench", password)
        today = rt.clock().astimezone(rt.config.site.tz).date()
        first = today - timedelta(days=REPORT_DAYS - 1)
        paths = [
            f"/api/reports?period={p}&from={first}&to={today}" for p in ("day", "week", "month")
        ]
        conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=300)
        status, fill = _get(conn, paths[0], cookie)  # no rollups yet: all 400 days computed
        if status != 200:
            raise RuntimeError(f"first report: HTTP {status}")
        report_t = []
        for i in range(runs):
            _one_call(rt, i)
            status, t = _get(conn, paths[i % 3], cookie)
            if status != 200:
                raise RuntimeError(f"report: HTTP {status}")
            report_t.append(t)
        me_alone = [_get(conn, "/api/me", cookie)[1] for _ in range(me_samples)]
        stop, lock = threading.Event(), threading.Lock()
        loaded: list[float] = []
        statuses: Counter[int] = Counter()

        def reports(k: int) -> None:
            c = http.client.HTTPConnection("127.0.0.1", server.port, timeout=300)
            i = k
            try:
                while not stop.is_set():
                    st, t = _get(c, paths[i % 3], cookie)
                    with lock:
                        statuses[st] += 1
                    if st == 200:
                        loaded.append(t)
                    i += 1
            finally:
                c.close()

        def writer() -> None:
            n = 0
            while not stop.wait(0.05):
                _one_call(rt, 10_000 + n)
                n += 1

        threads = [threading.Thread(target=reports, args=(k,)) for k in range(PARALLEL_REPORTS)]
        threads.append(threading.Thread(target=writer))
        rss_before = _rss_mb()
        _reset_peak_rss()
        for th in threads:
            th.start()
        time.sleep(1.0)
        me_loaded = []
        for _ in range(me_samples):
            me_loaded.append(_get(conn, "/api/me", cookie)[1])
            time.sleep(0.01)
        stop.set()
        for th in threads:
            th.join()
        peak_reports = _rss_mb("VmHWM")
        # as many exports of the whole range as there are heavy slots, at once, streamed
        slots = app.extensions[heavy.EXTENSION].slots
        exported: list[tuple[int, int, float]] = []
        export_path = f"/calls/export.csv?from={first}&to={today}"
        _reset_peak_rss()
        ex_threads = [
            threading.Thread(
                target=lambda: exported.append(_export(server.port, export_path, cookie))
            )
            for _ in range(slots)
        ]
        for th in ex_threads:
            th.start()
        for th in ex_threads:
            th.join()
        peak_exports = _rss_mb("VmHWM")
        conn.close()
        alone, under = p95_ms(me_alone), p95_ms(me_loaded)
        return {
            "report_days": REPORT_DAYS,
            "report_first_ms": round(fill * 1000, 1),
            "report_p95_ms": p95_ms(report_t),
            "report_median_ms": round(statistics.median(report_t) * 1000, 2),
            "me_alone_p95_ms": alone,
            "me_under_8_reports_p95_ms": under,
            "me_under_load_ratio": round(under / alone, 2) if alone else None,
            "reports_under_load": {
                "done": len(loaded),
                "p95_ms": p95_ms(loaded) if len(loaded) > 1 else None,
                "http_503": statuses.get(503, 0),
                "other_errors": sum(v for k, v in statuses.items() if k not in (200, 503)),
            },
            "rss_mb_before_load": rss_before,
            "peak_rss_mb_under_8_reports": peak_reports,
            "exports": {
                "parallel": slots,
                "statuses": sorted(st for st, _, _ in exported),
                "mb_each": [round(b / 2**20, 1) for _, b, _ in exported],
                "slowest_s": round(max(t for _, _, t in exported), 2),
                "peak_rss_mb": peak_exports,
            },
        }
    finally:
        server.stop()
        close_app(app)


def _libpq(url: str) -> str:
    """A SQLAlchemy PostgreSQL URL (postgresql+psycopg://... too) as libpq takes it."""
    from sqlalchemy.engine import make_url

    return make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)


@contextmanager
def _pg_database(admin_url: str, keep: bool) -> Iterator[str]:
    """A new database on the server of `admin_url` (its SQLAlchemy URL), dropped after
    unless `keep`."""
    import psycopg
    from psycopg import sql
    from sqlalchemy.engine import make_url

    name = f"hotline_bench_{uuid.uuid4().hex[:8]}"
    admin = _libpq(admin_url)
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    try:
        yield make_url(admin_url).set(database=name).render_as_string(hide_password=False)
    finally:
        if not keep:
            with psycopg.connect(admin, autocommit=True) as conn:
                conn.execute(
                    sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name))
                )


def bench_backend(
    backend: str,
    url: str,
    work: Path,
    n: int,
    config: str | None,
    runs: int,
    report_runs: int = 20,
) -> dict[str, Any]:
    rt = build_runtime(config, {"HOTLINE_DATABASE_URL": url, "HOTLINE_DATA_DIR": str(work)})
    try:
        agents = [(a.id, a.seat) for a in rt.config.roster.agents]
        rows = generate(n, rt.clock(), rt.config.site.tz, agents)
        t = time.perf_counter()
        if backend == "sqlite":
            load_sqlite(rt.engine, rows)
        else:
            load_postgresql(url, rows)
        loaded = time.perf_counter() - t
        result = measure(rt, runs)
        reports = measure_reports(rt, report_runs)
        return {**result, **reports, "generate_and_load_s": round(loaded, 1)}
    finally:
        rt.close()


def run(
    n: int,
    config: str | None,
    pg_url: str = "",
    queries: int = 200,
    keep: bool = False,
    reports: int = 20,
) -> dict[str, Any]:
    out: dict[str, Any] = {"calls": n}
    work = Path(tempfile.mkdtemp(prefix="hotline-bench-"))
    out["sqlite"] = bench_backend(
        "sqlite", f"sqlite:///{work / 'bench.db'}", work, n, config, queries, reports
    )
    if not keep:
        for p in work.glob("bench.db*"):
            p.unlink()
    if pg_url:
        with _pg_database(pg_url, keep) as url:
            out["postgresql"] = bench_backend("postgresql", url, work, n, config, queries, reports)
    if not keep:
        shutil.rmtree(work, ignore_errors=True)
    return out
