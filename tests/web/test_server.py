"""The web app behind the production WSGI server (cheroot): sign-in over real HTTP,
and the board's server-sent events arriving while the stream stays open."""

from __future__ import annotations

import http.client
import time
from collections.abc import Callable, Iterator
from urllib.parse import urlencode

import pytest
from conftest import PASSWORD

from ivr.bootstrap import Runtime
from web.app import create_app
from web.server import WebServer


@pytest.fixture
def server(web_runtime: Runtime) -> Iterator[WebServer]:
    app = create_app(
        web_runtime, secret_key="server-test", secure_cookies=False, board_poll_seconds=0.05,
        sse_heartbeat_seconds=0.2,
    )  # fmt: skip
    srv = WebServer(app, "127.0.0.1", 0).start()
    try:
        yield srv
    finally:
        srv.stop()


def _sign_in(port: int, csrf: Callable[[str], str], username: str) -> str:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    conn.request("GET", "/login")
    resp = conn.getresponse()
    cookie = resp.getheader("Set-Cookie", "").split(";")[0]
    token = csrf(resp.read().decode())
    body = urlencode({"username": username, "password": PASSWORD, "csrf_token": token})
    conn.request(
        "POST", "/login", body,
        {"Content-Type": "application/x-www-form-urlencoded", "Cookie": cookie},
    )  # fmt: skip
    resp = conn.getresponse()
    resp.read()
    assert resp.status == 302, resp.status
    conn.close()
    return resp.getheader("Set-Cookie", "").split(";")[0] or cookie


def test_the_production_server_serves_pages(server: WebServer) -> None:
    conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=10)
    conn.request("GET", "/login")
    resp = conn.getresponse()
    assert resp.status == 200
    assert resp.getheader("Server") == "hotline"  # cheroot, named; werkzeug says Werkzeug
    conn.close()


def test_board_events_stream_through_the_production_server(
    server: WebServer, web_users: dict[str, str], csrf: Callable[[str], str], web_runtime: Runtime
) -> None:
    cookie = _sign_in(server.port, csrf, "lead")
    conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=10)
    conn.request("GET", "/board/stream", headers={"Cookie": cookie})
    resp = conn.getresponse()
    assert resp.status == 200
    assert resp.getheader("Content-Type", "").startswith("text/event-stream")
    started = time.monotonic()
    first = resp.readline()  # the first event arrives while the stream stays open
    while first.strip() == b"" or first.startswith((b":", b"retry:")):
        first = resp.readline()
    assert time.monotonic() - started < 5
    assert first == b"event: board\n", first
    # a change made elsewhere reaches the open stream
    web_runtime.presence_repo.set_agent_state("chen", "away", "lunch", web_runtime.clock())
    deadline = time.monotonic() + 5
    seen = b""
    while time.monotonic() < deadline and b"lunch" not in seen:
        seen += resp.readline()
    assert b"lunch" in seen
    conn.close()


def test_debug_uses_werkzeug(web_runtime: Runtime) -> None:
    app = create_app(web_runtime, secret_key="k")
    srv = WebServer(app, "127.0.0.1", 0, debug=True).start()
    try:
        conn = http.client.HTTPConnection("127.0.0.1", srv.port, timeout=10)
        conn.request("GET", "/login")
        resp = conn.getresponse()
        assert "Werkzeug" in (resp.getheader("Server") or "")
        conn.close()
    finally:
        srv.stop()
