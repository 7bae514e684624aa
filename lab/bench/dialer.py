"""`hotline bench dialer`: the due-batch query under load, and a paced run in the sandbox.

1. Query: `pending` requests (default 100,000) in a scratch database, 1 % of
   them due; `CallbackRepo.due` (the dialer's batch selection) is timed 200
   times -> p95 in ms.
2. Sandbox (unless --no-sandbox): the sandbox Asterisk with SIPp seats (agents)
   and SIPp customers; `dials` requests due now; the real dialer places them at
   the configured originate rate. Reports the achieved Originate rate and the
   duplicate dials (a customer rung more often than the ledger has attempts for
   it, or a request answered twice).

Only one sandbox may run on a machine: run it under `flock /tmp/hotline-e2e.lock`.
"""

from __future__ import annotations

import random
import shutil
import statistics
import tempfile
import threading
import time
from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import yaml
from sqlalchemy import insert

from ivr.adapters.db.callbacks import CallbackRepo
from ivr.adapters.db.engine import make_engine, make_session_factory, migrate
from ivr.adapters.db.models_callbacks import CallbackRequestRow
from ivr.domain.callbacks import OPEN_STATES, CallbackState

QUERY_RUNS = 200
BATCH = 20


def seed(url: str, pending: int, now: datetime, due_share: float = 0.01) -> None:
    """`pending` open requests: `due_share` of them due, the rest over the next 14 days."""
    rng = random.Random(4)
    engine = make_engine(url)
    try:
        migrate(engine)
        rows = []
        for i in range(pending):
            due = (
                now - timedelta(seconds=rng.uniform(0, 3600))
                if rng.random() < due_share
                else now + timedelta(seconds=rng.uniform(60, 14 * 86400))
            )
            state = CallbackState.RETRY if rng.random() < 0.1 else CallbackState.SCHEDULED
            rows.append(
                dict(
                    number=f"+86139{i:08d}", matter="bench", state=state.value, source="bench",
                    tz="Asia/Shanghai", arrived_at=due - timedelta(seconds=rng.uniform(0, 86400)),
                    due_at=due, created_at=now, updated_at=now, language="zh-CN",
                )
            )  # fmt: skip
        with engine.begin() as conn:
            for start in range(0, len(rows), 10_000):
                conn.execute(insert(CallbackRequestRow), rows[start : start + 10_000])
            if conn.dialect.name == "postgresql":
                conn.exec_driver_sql("ANALYZE callback_requests")
            else:
                conn.exec_driver_sql("ANALYZE")
    finally:
        engine.dispose()


def due_query_p95(url: str, now: datetime, runs: int = QUERY_RUNS) -> tuple[float, int]:
    """p95 of the due-batch selection in ms, and the batch size it returned."""
    engine = make_engine(url)
    try:
        repo = CallbackRepo(make_session_factory(engine))
        repo.due(now, BATCH)  # warm the pool and the cache
        times, size = [], 0
        for _ in range(runs):
            t0 = time.perf_counter()
            size = len(repo.due(now, BATCH))
            times.append((time.perf_counter() - t0) * 1000)
        return statistics.quantiles(times, n=20)[18], size
    finally:
        engine.dispose()


def all_day_config(source: Path, target: Path, rate: float | None) -> Path:
    """A copy of the config where every agent is on duty and customers may be called
    at any hour: the bench measures the dialer, not the calendar."""
    shutil.copytree(source, target)
    seats = yaml.safe_load((target / "seats.yaml").read_text(encoding="utf-8"))
    for agent in seats["agents"]:
        agent["shifts"] = [{"days": "all", "hours": ["00:00-23:59"]}]
    (target / "seats.yaml").write_text(yaml.safe_dump(seats), encoding="utf-8")
    cb = yaml.safe_load((target / "callbacks.yaml").read_text(encoding="utf-8"))
    days = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
    cb["calling_hours"]["weekly"] = {d: ["00:00-23:59"] for d in days}
    cb["calling_hours"]["dial_on_holidays"] = True
    cb["dialer"].update(poll_seconds=0.2, agent_ring_seconds=5, customer_ring_seconds=5)
    if rate is not None:
        cb["dialer"]["originate_rate"] = rate
    (target / "callbacks.yaml").write_text(yaml.safe_dump(cb), encoding="utf-8")
    return target


def sandbox_run(config_dir: Path, work: Path, dials: int) -> dict[str, Any]:
    """Place `dials` callbacks through the sandbox at the configured rate."""
    from ivr.app.callbacks import NewRequest
    from ivr.bootstrap import asterisk_settings, build_dialer, build_runtime, callback_parts
    from lab.provision import provision_sandbox
    from lab.sandbox import Sandbox
    from lab.sipp import SeatPool
    from lab.sipp_customers import CustomerPhones

    env = {"HOTLINE_DATABASE_URL": f"sqlite:///{work / 'run.db'}", "HOTLINE_DATA_DIR": str(work)}
    rt = build_runtime(str(config_dir), env)
    parts = callback_parts(rt)
    settings = asterisk_settings(rt.config)
    box = Sandbox()
    was_running = box.is_running()
    provision_sandbox(rt, box)
    dialer = build_dialer(rt, parts, "bench")
    numbers = [f"+86136{i:08d}" for i in range(dials)]
    try:
        with (
            SeatPool(settings, ring_ms=50) as _seats,
            CustomerPhones(
                port=parts.settings.dialer.trunk_port, ring_ms=50, hold_ms=300
            ) as phones,
        ):
            now = rt.clock()
            ids = [
                parts.repo.add(
                    NewRequest(n, "bench", "bench", now, now, "Asia/Shanghai",
                               expires_at=now + timedelta(hours=1)), now,
                ).request.id
                for n in numbers
            ]  # fmt: skip
            thread = threading.Thread(target=dialer.run, daemon=True)
            thread.start()
            deadline = time.monotonic() + 60 + dials / parts.settings.dialer.originate_rate * 3
            while time.monotonic() < deadline:
                states = [parts.repo.get(i).state for i in ids]  # type: ignore[union-attr]
                if not any(s in OPEN_STATES for s in states):
                    break
                time.sleep(0.5)
            time.sleep(1.0)
            dialer.stop()
            thread.join(15)
            rung = phones.dial_counts()
    finally:
        rt.close()
        if not was_running:
            box.stop()
    stamps = sorted(t for t, _ in dialer.stats.originated)
    achieved = (len(stamps) - 1) / (stamps[-1] - stamps[0]) if len(stamps) > 1 else 0.0
    attempts = {i: parts.repo.attempts(i) for i in ids}
    answered = Counter(i for i, a in attempts.items() for x in a if x.outcome == "answered")
    reached = {
        n: sum(1 for x in attempts[i] if x.dial_status) for n, i in zip(numbers, ids, strict=True)
    }
    duplicates = sum(max(0, rung[n] - max(reached[n], 1)) for n in numbers) + sum(
        c - 1 for c in answered.values() if c > 1
    )
    final = Counter(parts.repo.get(i).state.value for i in ids)  # type: ignore[union-attr]
    return {
        "dials": dials,
        "originates": len(stamps),
        "achieved_rate": round(achieved, 3),
        "duplicates": duplicates,
        "customers_rung": sum(rung[n] for n in numbers),
        "final_states": dict(final),
    }


def run_bench(
    pending: int = 100_000,
    dials: int = 60,
    sandbox: bool = True,
    database_url: str | None = None,
    rate: float | None = None,
    config: str | None = None,
) -> dict[str, Any]:
    from ivr.config import load_config

    source = Path(config or "config").resolve()
    configured = rate if rate is not None else load_config(source).callbacks.dialer.originate_rate
    now = datetime.now(UTC)
    with tempfile.TemporaryDirectory(prefix="hotline-bench-dialer-") as tmp:
        work = Path(tmp)
        url = database_url or f"sqlite:///{work / 'pending.db'}"
        seed(url, pending, now)
        p95, batch = due_query_p95(url, now)
        result: dict[str, Any] = {
            "pending": pending,
            "due_query_p95_ms": round(p95, 3),
            "due_batch": batch,
            "database": url.split(":", 1)[0],
            "configured_rate": configured,
            "achieved_rate": None,
            "duplicates": 0,
        }
        if sandbox:
            cfg = all_day_config(source, work / "config", rate)
            run = sandbox_run(cfg, work, dials)
            result.update(run)
            result["rate_error"] = round(abs(run["achieved_rate"] - configured) / configured, 3)
    return result


__all__ = ["run_bench"]
