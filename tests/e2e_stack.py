"""Support for end-to-end tests: the sandbox Asterisk, the hotline service
(FastAGI + AMI listener + queue sync) in a thread, SIPp seats, and a database
on SQLite or PostgreSQL.

"""

from __future__ import annotations

import sqlite3
import time
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from dbs import temporary_database
from sqlalchemy import select
from tcp_proxy import CuttableProxy

from ivr.adapters.asterisk.conf_dir import AsteriskConfDir
from ivr.adapters.db.calllog import CallRecord
from ivr.adapters.db.models import Call
from ivr.bootstrap import Runtime, asterisk_settings, build_runtime, build_service
from ivr.service import ServiceThread
from lab.provision import provision_sandbox
from lab.sandbox import Sandbox
from lab.sipp import SeatPool

REPO = Path(__file__).resolve().parents[1]
STAFF_PASSWORD = "correct horse battery"

# Fixed instants in the sample hotline's zone (Asia/Shanghai).
WEEKDAY_10 = "2026-11-23T10:00:00+08:00"  # Monday, open
SUNDAY_10 = "2026-11-22T10:00:00+08:00"  # closed, seats off; on-call liu, zhang
SUNDAY_03 = "2026-11-22T03:00:00+08:00"  # closed, night on-call zhao, li


class SettableClock:
    """A pinned clock (like HOTLINE_NOW) that tests can move; it runs at real speed."""

    def __init__(self, start: str) -> None:
        self.set(start)

    def set(self, at: str) -> None:
        self._at = datetime.fromisoformat(at)
        self._origin = time.monotonic()

    def __call__(self) -> datetime:
        return self._at + timedelta(seconds=time.monotonic() - self._origin)


@dataclass
class Stack:
    backend: str
    runtime: Runtime
    service: ServiceThread
    seats: SeatPool
    clock: SettableClock
    sandbox: Sandbox
    proxy: CuttableProxy | None = None  # PostgreSQL is reached through it

    @contextmanager
    def database_outage(self) -> Iterator[None]:
        """The call log's database is unreachable (PostgreSQL) or locked (SQLite) meanwhile."""
        if self.proxy is not None:
            self.proxy.cut()
            try:
                yield
            finally:
                self.proxy.restore()
            return
        path = self.runtime.engine.url.database
        assert path
        holder = sqlite3.connect(path, timeout=1, isolation_level=None)
        try:
            holder.execute("BEGIN EXCLUSIVE")
            yield
        finally:
            holder.execute("ROLLBACK")
            holder.close()

    def at(self, instant: str) -> None:
        """Move the hotline's clock and make the queues follow the roster now."""
        self.clock.set(instant)
        assert self.service.service.sync_queues(force=True)

    def call_record(self, caller: str, timeout: float = 20.0, ended: bool = True) -> CallRecord:
        """The call log's record of the latest call from `caller`, once complete."""
        deadline = time.monotonic() + timeout
        rec: CallRecord | None = None
        while time.monotonic() < deadline:
            rec = self.runtime.calls.latest_from(caller)
            if rec is not None and (not ended or rec.ended_at is not None):
                return rec
            time.sleep(0.2)
        raise AssertionError(f"no complete call record for {caller} after {timeout}s: {rec}")

    def staff_client(self, username: str, role: str, agent: str | None = None) -> Any:
        """A web test client logged in as a new staff user (close it with
        `web.app.close_app(client.application)`)."""
        from web import store
        from web.app import create_app

        app = create_app(self.runtime, secret_key=f"e2e-{username}", board_poll_seconds=0.0)
        app.config["TESTING"] = True
        with self.runtime.sessions.begin() as s:
            store.add_user(s, username, STAFF_PASSWORD, role, agent, self.runtime.clock())
        client = app.test_client()
        client.environ_base["HTTP_ACCEPT_LANGUAGE"] = "en"
        page = client.get("/login").get_data(as_text=True)
        token = page.split('name="csrf_token" value="')[1].split('"')[0]
        client.post(
            "/login", data={"username": username, "password": STAFF_PASSWORD, "csrf_token": token}
        )
        return client

    def calls_from(self, caller: str) -> int:
        """How many records the call log holds for `caller` (in any form: stored in E.164)."""
        stored = self.runtime.calls.caller_key(caller)
        with self.runtime.sessions() as s:
            return len(s.scalars(select(Call.id).where(Call.caller == stored)).all())


@contextmanager
def running_stack(backend: str, sandbox: Sandbox, work: Path, config_dir: Path) -> Iterator[Stack]:
    """The whole stack on `backend` for the hotline in `config_dir`: a throw-away
    database, the runtime with a settable clock (at WEEKDAY_10), the sandbox
    Asterisk provisioned for it, the service in a thread and the SIPp seats."""
    with temporary_database(backend, work) as url:
        proxy = None
        if backend == "postgresql":  # through a proxy the outage test can cut
            proxy = CuttableProxy("127.0.0.1", 5432)
            url = url.replace("@127.0.0.1:5432/", f"@127.0.0.1:{proxy.port}/")
        env = {"HOTLINE_DATABASE_URL": url, "HOTLINE_DATA_DIR": str(work)}
        with ExitStack() as cleanup:  # whatever part started is stopped, in reverse order
            if proxy is not None:
                cleanup.callback(proxy.close)
            runtime = build_runtime(str(config_dir), env)
            cleanup.callback(runtime.close)
            clock = SettableClock(WEEKDAY_10)
            runtime.clock = clock
            settings = asterisk_settings(runtime.config)
            provision_sandbox(runtime, sandbox)
            # A reload (tests/e2e/test_reload_e2e.py) rewrites the sandbox's files.
            conf = AsteriskConfDir(sandbox.config_dir)
            service = ServiceThread(build_service(runtime, sync_seconds=0.5, asterisk=conf))
            service.start()
            cleanup.callback(service.stop)
            seats = SeatPool(settings, ring_ms=300)
            seats.start()
            cleanup.callback(seats.stop)
            yield Stack(backend, runtime, service, seats, clock, sandbox, proxy)
