"""The web app while PostgreSQL, the production store, is away for real: the database
refuses new connections and its sessions are ended (`ALLOW_CONNECTIONS false`,
`pg_terminate_backend`), as when the server restarts or fails over.

- Every page and API answers 503 with Retry-After and says the database is not
  answering (in the user's language), never a 500; the same pages answer again once
  the database is back, without a restart.
- A live stream open when the database goes (the supervisors' board, the agent's
  cases) is not cut: it says `: unavailable` and goes on, and polls on to the next
  snapshot once the database is back.
- A call through Twilio's webhooks meanwhile is served (menu, key, route) and, once
  the database is back, recorded once from the spool.

(SQLite has no server to go away: it is a file.)
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Iterator
from typing import Any

import pytest
from flask import Flask
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url
from twilio_phone import PUBLIC, TwilioPhone

from ivr.bootstrap import Runtime
from web.app import close_app
from web.live import UNAVAILABLE

from .conftest import make_app


@pytest.fixture
def web_backend() -> str:
    return "postgresql"  # the store with a server to take away


@pytest.fixture
def app(web_runtime: Runtime) -> Iterator[Flask]:
    app = make_app(web_runtime, agent_poll_seconds=0.01, sse_heartbeat_seconds=0.01)
    try:
        yield app
    finally:
        close_app(app)


@contextlib.contextmanager
def database_away(rt: Runtime) -> Iterator[None]:
    """The runtime's PostgreSQL database refusing connections, its sessions ended."""
    url = make_url(rt.config.database_url)
    admin = create_engine(url.set(database="postgres"), isolation_level="AUTOCOMMIT")
    name = url.database
    try:
        with admin.connect() as c:
            c.execute(text(f'ALTER DATABASE "{name}" ALLOW_CONNECTIONS false'))
            c.execute(
                text(
                    "SELECT pg_terminate_backend(pid) FROM pg_stat_activity"
                    " WHERE datname = :name AND pid <> pg_backend_pid()"
                ),
                {"name": name},
            )
        yield
    finally:
        with admin.connect() as c:
            c.execute(text(f'ALTER DATABASE "{name}" ALLOW_CONNECTIONS true'))
        admin.dispose()


def _pages(app: Flask) -> list[str]:
    """Every GET route without a path parameter (a stream asked for one event)."""
    rules = {
        r.rule
        for r in app.url_map.iter_rules()
        if "GET" in (r.methods or ()) and "<" not in r.rule and not r.rule.startswith("/static")
    }
    return sorted(f"{r}?once=1" if r.endswith("/stream") else r for r in rules)


def test_every_page_is_a_503_while_the_database_is_away_and_answers_again_after(
    app: Flask, web_runtime: Runtime, web_users: dict[str, str], login: Any
) -> None:
    client = app.test_client()
    login(client, "root")
    pages = _pages(app)
    assert len(pages) > 20 and "/board/stream?once=1" in pages
    with database_away(web_runtime):
        for page in pages:
            r = client.get(page)
            body = r.get_data(as_text=True)
            assert r.status_code == 503, (page, r.status_code, body[:200])
            assert r.headers["Retry-After"] == "5", page
            assert "database is not answering" in body and "Traceback" not in body, page
        r = client.get("/calls", headers={"Accept-Language": "zh-CN"})
        assert r.status_code == 503 and "数据库暂时没有应答" in r.get_data(as_text=True)
        r = client.post("/api/agent/status", json={"status": "busy"})
        assert r.status_code == 503
    assert client.get("/api/me").status_code == 200  # back, no restart
    assert client.get("/calls").status_code == 200


def _next(chunks: Iterator[bytes], want: str, within: float = 20.0) -> list[str]:
    """The stream's chunks up to and including the first that starts with `want`."""
    seen: list[str] = []
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        seen.append(next(chunks).decode())
        if seen[-1].startswith(want):
            return seen
    raise AssertionError(f"no {want!r} within {within} s: {seen[-5:]}")


@pytest.mark.parametrize(
    ("user", "path", "event"),
    [("lead", "/board/stream", "board"), ("chen", "/agent/stream", "cases")],
)
def test_a_stream_open_when_the_database_goes_is_not_cut_and_goes_on_after(
    app: Flask,
    web_runtime: Runtime,
    web_users: dict[str, str],
    login: Any,
    user: str,
    path: str,
    event: str,
) -> None:
    client = app.test_client()
    login(client, user)
    r = client.get(path, buffered=False)
    assert r.status_code == 200
    chunks = iter(r.response)
    try:
        _next(chunks, f"event: {event}")
        with database_away(web_runtime):
            away = _next(chunks, UNAVAILABLE)
            assert not any(c.startswith("event:") for c in away[1:])
            _next(chunks, UNAVAILABLE)  # and again: the stream goes on
        # back: a snapshot is computed again (a heartbeat comes only after one)
        back = _next(chunks, ": keep-alive")
        assert UNAVAILABLE not in back[-1:]
    finally:
        r.close()


def test_a_twilio_call_while_the_database_is_away_is_served_and_recorded_once_after(
    phone: TwilioPhone, web_runtime: Runtime
) -> None:
    """Twilio's webhooks never answer a caller with an error: with the database away the
    menu still plays and the key still routes (the operator, when the routing cannot
    read what it needs), the call's events are spooled, and once the database is back
    the next write replays them: one record, ended."""
    sid = "CA" + "7" * 32
    with database_away(web_runtime):
        menu = phone.call("+8613800000101", sid)
        assert menu.status == 200 and menu.xml.find("Gather") is not None, menu.body
        routed = phone.answer(menu, sid, Digits="1")
        assert routed.status == 200 and routed.xml.find("Dial") is not None, routed.body
        end = {
            "CallSid": sid, "CallStatus": "completed", "From": "+8613800000101",
            "To": "+14155550100", "CallDuration": "30",
            "Timestamp": "Mon, 23 Nov 2026 10:00:30 +0800",
        }  # fmt: skip
        assert phone.post(f"{PUBLIC}/twilio/status", end).status == 204
    assert web_runtime.spool_path.exists()
    time.sleep(1.1)  # the spool's back-off after a failure (its retry interval, 1 s)
    other = {**end, "CallSid": "CA" + "8" * 32}
    assert phone.post(f"{PUBLIC}/twilio/status", other).status == 204  # replays the first
    record = web_runtime.calls.get_call(sid)
    assert record is not None and record.ended_at is not None and record.source == "twilio"
    with web_runtime.sessions() as s:
        count = s.execute(text("SELECT COUNT(*) FROM calls WHERE uid = :u"), {"u": sid}).scalar()
    assert count == 1
