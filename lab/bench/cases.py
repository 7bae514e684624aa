"""`hotline bench cases`: a million cases, then the supervisors' case board and case
searches, timed on SQLite and PostgreSQL.

Generation: one year of cases up to now, 98 % done (resolved or closed, most on time),
2 % still active with deadlines around now; complaints, requests and follow-ups; the
sample's classes, branches and agents; 200,000 callers. Loading uses executemany
(SQLite) and COPY (PostgreSQL) after the real migrations. Measured: what the board runs
(`CaseRepo.board` plus the overdue and near-deadline lists, as `web.cases.board` calls
them) and `CaseRepo.search` with random filters (a case number, a caller's number
prefix, an owner's active cases, a class and branch, a word of the matter within a
month, the overdue list).
"""

from __future__ import annotations

import random
import shutil
import statistics
import tempfile
import time
from collections.abc import Iterator
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from ivr.adapters.db.cases import CaseFilter, CaseRepo
from ivr.adapters.progress import progress
from ivr.bootstrap import build_runtime
from ivr.domain.cases import ACTIVE_STATES, CaseKind, CaseState
from lab.bench.calllog import _pg_database, load_postgresql, load_sqlite, p95_ms

COLUMNS = (
    "case_no", "kind", "case_class", "state", "number", "matter", "owner", "branch", "term",
    "opened_by", "opened_at", "deadline", "escalation", "summary", "updated_at", "done_at",
)  # fmt: skip
TIMES = ("opened_at", "deadline", "updated_at", "done_at")
MATTERS = ("noise", "heater", "billing", "water leak", "rude staff", "late repair", "parking",
           "room keys", "gas smell", "internet")  # fmt: skip
BRANCHES = ("complaints", "enquiries", "repairs", "emergency")
CLASSES = (("minor", 0.6, 72), ("important", 0.3, 72), ("major", 0.1, 24))


def generate(
    n: int, now: datetime, tz: Any, agents: list[str], seed: int = 5
) -> Iterator[tuple[Any, ...]]:
    rng = random.Random(seed)
    start = now - timedelta(days=365)
    numbers = [f"+8613{rng.randrange(10**9):09d}" for _ in range(200_000)]
    opened = sorted(start + timedelta(seconds=rng.random() * 365 * 86400) for _ in range(n))
    serial: dict[str, int] = {}
    kinds = (CaseKind.COMPLAINT.value, CaseKind.REQUEST.value, CaseKind.FOLLOW_UP.value)
    for i in progress(range(n), "generating cases", total=n):
        at = opened[i]
        month = f"{at.astimezone(tz):%Y%m}"
        serial[month] = serial.get(month, 0) + 1
        cls, _, hours = rng.choices(CLASSES, [c[1] for c in CLASSES])[0]
        deadline = at + timedelta(hours=hours)
        active = rng.random() < 0.02 or at > now - timedelta(hours=12)
        if active:
            state = rng.choice(sorted(s.value for s in ACTIVE_STATES))
            done = None
            deadline = now + timedelta(hours=rng.uniform(-48, 72))
        else:
            state = rng.choice((CaseState.RESOLVED.value, CaseState.CLOSED.value))
            done = at + timedelta(hours=rng.uniform(0.5, hours * 1.2))
        yield (
            f"{month}-{serial[month]:04d}",
            rng.choices(kinds, (0.7, 0.2, 0.1))[0],
            cls,
            state,
            numbers[rng.randrange(len(numbers))],
            rng.choice(MATTERS),
            rng.choice(agents),
            rng.choice(BRANCHES),
            "departed",
            "bench",
            at,
            deadline,
            "none",
            "",
            done or at,
            done,
        )


def measure(rt: Any, runs: int, seed: int = 13) -> dict[str, float]:
    rng = random.Random(seed)
    repo = CaseRepo(rt.sessions)
    now = rt.clock()
    near = now + rt.config.cases.rules.near
    team = frozenset(a.id for a in rt.config.roster.agents) | {""}
    agents = sorted(team - {""})
    sample = repo.search(CaseFilter(), limit=500)
    active = frozenset(ACTIVE_STATES)

    def random_filter() -> CaseFilter:
        pick = rng.randrange(6)
        c = rng.choice(sample)
        if pick == 0:
            return CaseFilter(text=c.case_no)
        if pick == 1:
            return CaseFilter(number=c.number[:9])
        if pick == 2:
            return CaseFilter(owners=frozenset({rng.choice(agents)}), states=active)
        if pick == 3:
            return CaseFilter(case_class=rng.choice(CLASSES)[0], branch=rng.choice(BRANCHES),
                              states=active)  # fmt: skip
        if pick == 4:
            month = now - timedelta(days=rng.randrange(30, 330))
            return CaseFilter(text=rng.choice(MATTERS), opened_from=month,
                              opened_to=month + timedelta(days=31))  # fmt: skip
        return CaseFilter(overdue_at=now, owners=team)

    board_t: list[float] = []
    search_t: list[float] = []
    for _ in range(runs):
        t = time.perf_counter()
        repo.board(CaseFilter(owners=team), now, near)
        repo.search(CaseFilter(owners=team, overdue_at=now), limit=50)
        repo.search(CaseFilter(owners=team, due_before=near), limit=100)
        board_t.append(time.perf_counter() - t)
        f = random_filter()
        t = time.perf_counter()
        repo.search(f, limit=100)
        search_t.append(time.perf_counter() - t)
    return {
        "board_p95_ms": p95_ms(board_t),
        "search_p95_ms": p95_ms(search_t),
        "board_median_ms": round(statistics.median(board_t) * 1000, 2),
        "search_median_ms": round(statistics.median(search_t) * 1000, 2),
    }


def bench_backend(backend: str, url: str, work: Path, n: int, config: str | None,
                  runs: int) -> dict[str, Any]:  # fmt: skip
    rt = build_runtime(config, {"HOTLINE_DATABASE_URL": url, "HOTLINE_DATA_DIR": str(work)})
    try:
        agents = [a.id for a in rt.config.roster.agents]
        rows = generate(n, rt.clock(), rt.config.site.tz, agents)
        t = time.perf_counter()
        if backend == "sqlite":
            load_sqlite(rt.engine, rows, table="cases", columns=COLUMNS, times=TIMES)
        else:
            load_postgresql(url, rows, table="cases", columns=COLUMNS)
        loaded = time.perf_counter() - t
        return {**measure(rt, runs), "generate_and_load_s": round(loaded, 1)}
    finally:
        rt.close()


def run(n: int, config: str | None, pg_url: str = "", queries: int = 200,
        keep: bool = False) -> dict[str, Any]:  # fmt: skip
    out: dict[str, Any] = {"cases": n}
    work = Path(tempfile.mkdtemp(prefix="hotline-bench-cases-"))
    out["sqlite"] = bench_backend("sqlite", f"sqlite:///{work / 'bench.db'}", work, n, config,
                                  queries)  # fmt: skip
    if pg_url:
        with _pg_database(pg_url, keep) as url:
            out["postgresql"] = bench_backend("postgresql", url, work, n, config, queries)
    if not keep:
        shutil.rmtree(work, ignore_errors=True)
    target = 200.0
    out["target_p95_ms"] = target
    out["met"] = all(
        out[b][k] < target for b in ("sqlite", "postgresql") if b in out
        for k in ("board_p95_ms", "search_p95_ms")
    )  # fmt: skip
    return out
