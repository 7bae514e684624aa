"""The Flask application factory and a threaded server that stops on request.

    app = create_app(runtime)                  # or create_app("config")
    serve(runtime, "127.0.0.1", 8080, stop)    # blocks until stop.set()

Nothing is built at import time: the runtime (engine, sessions, clock) comes
from the composition root, one database session per request, closed at the end.
"""

from __future__ import annotations

import os
import threading
from dataclasses import dataclass, replace
from datetime import datetime
from pathlib import Path
from typing import Any

from flask import Flask, current_app, g, jsonify, request, session
from flask.typing import ResponseReturnValue
from sqlalchemy.orm import Session
from werkzeug.serving import BaseWSGIServer, WSGIRequestHandler, make_server

from ivr.adapters.db.engine import READ_ONLY
from ivr.adapters.files import secret
from ivr.bootstrap import Runtime, build_runtime
from web import board_data, store
from web.live import BoardHub
from web.security import SAFE_METHODS, LoginLimiter, csrf_ok, csrf_token, current_user
from web.settings import WebSettings

ENV_SECRET = "HOTLINE_WEB_SECRET"  # noqa: S105 (the name of a variable)


@dataclass
class WebContext:
    runtime: Runtime
    settings: WebSettings
    limiter: LoginLimiter
    hub: BoardHub
    owns_runtime: bool

    def now(self) -> datetime:
        return self.runtime.clock()


def ctx() -> WebContext:
    return current_app.extensions["hotline"]  # type: ignore[no-any-return]


def db() -> Session:
    """The request's read session (closed when the request ends)."""
    if "db" not in g:
        g.db = ctx().runtime.sessions()
        g.db.connection(execution_options=READ_ONLY)
    return g.db  # type: ignore[no-any-return]


def create_app(
    runtime_or_config: Runtime | str | Path, settings: WebSettings | None = None, **options: Any
) -> Flask:
    """Build the web app over a runtime (or a config directory, built here)."""
    settings = replace(settings or WebSettings(), **options)
    owns = not isinstance(runtime_or_config, Runtime)
    rt = build_runtime(str(runtime_or_config)) if owns else runtime_or_config
    assert isinstance(rt, Runtime)
    app = Flask(__name__)
    app.config.update(
        SECRET_KEY=settings.secret_key or _secret_key(rt),
        SESSION_COOKIE_HTTPONLY=True,
        SESSION_COOKIE_SAMESITE="Lax",
        SESSION_COOKIE_SECURE=settings.secure_cookies,
        SESSION_COOKIE_NAME="hotline_session",
        PERMANENT_SESSION_LIFETIME=12 * 3600,
        MAX_CONTENT_LENGTH=64 * 1024,
    )
    hub = BoardHub(lambda: _board(rt, settings), settings.board_poll_seconds)
    limiter = LoginLimiter(settings.login_max_failures, settings.login_window_seconds)
    app.extensions["hotline"] = WebContext(rt, settings, limiter, hub, owns)
    _register(app)
    app.before_request(_before)
    app.after_request(_headers)
    app.teardown_appcontext(_close_db)
    app.context_processor(lambda: {"csrf_token": csrf_token, "me": current_user()})
    for code in (400, 403, 404, 405, 413, 429):
        app.register_error_handler(code, _error)
    return app


def _board(rt: Runtime, settings: WebSettings) -> dict[str, Any]:
    with rt.sessions() as s:
        s.connection(execution_options=READ_ONLY)
        return board_data.snapshot(rt, settings, s, rt.clock())


def _register(app: Flask) -> None:
    from web import agent, api, auth, board, callbacks, calls, planner, reports

    blueprints = (auth.bp, board.bp, agent.bp, calls.bp, callbacks.bp, reports.bp, planner.bp)
    for bp in (*blueprints, api.bp):
        app.register_blueprint(bp)


def _secret_key(rt: Runtime) -> str:
    """HOTLINE_WEB_SECRET, else a random key kept in the data directory (mode 0600)."""
    return secret(os.environ, ENV_SECRET, rt.config.data_dir / "web-secret.key", nbytes=48)


def _before() -> ResponseReturnValue | None:
    uid = session.get("uid")
    g.user = None
    if request.endpoint == "static":
        return None
    if isinstance(uid, int):
        g.user = store.load_user(db(), uid)
        if g.user is None:
            session.clear()
    if request.method not in SAFE_METHODS and not csrf_ok():
        if request.path.startswith("/api/"):
            return jsonify(error="CSRF token missing or wrong"), 400
        return _error_page(400, "The form's security token is missing or expired: reload it.")
    return None


def _headers(resp: Any) -> Any:
    if request.method not in SAFE_METHODS:
        ctx().hub.invalidate()
    resp.headers.setdefault(
        "Content-Security-Policy",
        "default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'; "
        "frame-ancestors 'none'; form-action 'self'",
    )
    resp.headers.setdefault("X-Content-Type-Options", "nosniff")
    resp.headers.setdefault("X-Frame-Options", "DENY")
    resp.headers.setdefault("Referrer-Policy", "same-origin")
    if request.path.startswith("/api/") or current_user() is not None:
        resp.headers.setdefault("Cache-Control", "no-store")
    return resp


def _close_db(_exc: BaseException | None) -> None:
    s = g.pop("db", None)
    if s is not None:
        s.close()


def _error(e: Any) -> ResponseReturnValue:
    code = getattr(e, "code", 500) or 500
    text = getattr(e, "description", "") or "error"
    if request.path.startswith("/api/"):
        return jsonify(error=text), code
    return _error_page(code, text)


def _error_page(code: int, text: str) -> ResponseReturnValue:
    from flask import render_template

    return render_template("error.html", code=code, text=text), code


# --- serving -----------------------------------------------------------------------


class _AccessLogHandler(WSGIRequestHandler):
    """werkzeug's handler, its access log without query strings: a call-log filter
    may hold a caller number (REQUIREMENTS §7)."""

    def log_request(self, code: int | str = "-", size: int | str = "-") -> None:
        self.path = self.path.partition("?")[0]  # the WSGI environ was built already
        super().log_request(code, size)


class WebServer:
    """A threaded werkzeug server in a background thread; `stop()` ends it."""

    def __init__(self, app: Flask, host: str, port: int) -> None:
        self.app = app
        self._server: BaseWSGIServer = make_server(
            host, port, app, threaded=True, request_handler=_AccessLogHandler
        )
        self.port = self._server.server_port
        self.host = host
        self._thread = threading.Thread(
            target=self._server.serve_forever, daemon=True, name="hotline-web"
        )

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    def start(self) -> WebServer:
        self._thread.start()
        return self

    def stop(self) -> None:
        self.app.extensions["hotline"].hub.stopping.set()
        self._server.shutdown()
        self._thread.join(timeout=5)
        self._server.server_close()


def close_app(app: Flask) -> None:
    """Stop live streams; dispose the runtime if `create_app` built it."""
    c: WebContext = app.extensions["hotline"]
    c.hub.stopping.set()
    if c.owns_runtime:
        c.runtime.close()


def serve(
    runtime: Runtime, host: str, port: int, stop_event: threading.Event, **options: Any
) -> None:
    """Run the web app on host:port until `stop_event` is set (for `hotline up`)."""
    server = WebServer(create_app(runtime, **options), host, port).start()
    try:
        stop_event.wait()
    finally:
        server.stop()
