"""The Flask application factory.

    app = create_app(runtime)                  # or create_app("config")

web/server.py serves it (cheroot, threaded; werkzeug's server only for --debug).

Nothing is built at import time: the runtime (engine, sessions, clock) comes
from the composition root, one database session per request, closed at the end.
"""

from __future__ import annotations

import logging
import os
from dataclasses import replace
from pathlib import Path
from typing import Any

from flask import Flask, current_app, g, jsonify, request, session
from flask.globals import request_ctx
from flask.typing import ResponseReturnValue
from flask_babel import gettext
from sqlalchemy.exc import OperationalError
from werkzeug.exceptions import BadHost, ClientDisconnected

from ivr.adapters.db.engine import READ_ONLY
from ivr.adapters.files import secret
from ivr.bootstrap import Runtime, build_runtime, build_twilio_voice, heavy_sessions
from ivr.config import ENV_WEB_SECRET, ConfigError, web_secret_problem
from web import board_data, heavy, i18n, messages, params
from web.context import SESSION_KEY, WebContext, ctx, session_user
from web.live import BoardHub
from web.params import ParamError
from web.security import (
    CSRF_HEADER,
    SAFE_METHODS,
    LoginLimiter,
    csrf_ok,
    csrf_token,
    current_user,
)
from web.settings import WebSettings

log = logging.getLogger(__name__)


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
        PERMANENT_SESSION_LIFETIME=settings.session_lifetime_seconds,
        MAX_CONTENT_LENGTH=64 * 1024,
    )
    hub = BoardHub(lambda: _board(rt, settings), settings.board_poll_seconds)
    limiter = LoginLimiter(settings.login_max_failures, settings.login_window_seconds)
    app.extensions["hotline"] = WebContext(rt, settings, limiter, hub, owns)
    app.extensions[heavy.EXTENSION] = heavy.HeavyGate(
        heavy_sessions(rt, settings.heavy_slots, settings.heavy_timeout_seconds),
        settings.heavy_slots,
        settings.heavy_wait_seconds,
    )
    i18n.init_app(app, settings.locale or rt.config.web.locale, rt.config.site.tz.key)
    _register(app)
    app.before_request(_before)
    app.after_request(_headers)
    app.teardown_appcontext(_close_db)
    app.context_processor(
        lambda: {"csrf_token": csrf_token, "me": current_user(), "words": messages}
    )
    for code in (400, 401, 403, 404, 405, 413, 429, 500, 503):
        app.register_error_handler(code, _error)
    # a statement cut off by the heavy pool's timeout, or a database too busy to answer
    app.register_error_handler(OperationalError, _db_unavailable)
    app.register_error_handler(ParamError, _param_error)
    # werkzeug's own 400s for a part of the request that is not a field: named like one
    app.register_error_handler(BadHost, _bad_host)
    app.register_error_handler(ClientDisconnected, _cut_short)
    # A value that slipped past the parsers of web.params is still the client's fault:
    for exc in (ValueError, OverflowError):
        app.register_error_handler(exc, _value_error)
    return app


def _board(rt: Runtime, settings: WebSettings) -> dict[str, Any]:
    with rt.sessions() as s:
        s.connection(execution_options=READ_ONLY)
        return board_data.snapshot(rt, settings, s, rt.clock())


def _register(app: Flask) -> None:
    from web import agent, api, auth, board, callbacks, calls, cases, planner, reports, twilio

    blueprints = (
        auth.bp, board.bp, agent.bp, calls.bp, callbacks.bp, cases.bp, reports.bp, planner.bp
    )  # fmt: skip
    for bp in (*blueprints, api.bp, twilio.bp):
        app.register_blueprint(bp)
    c: WebContext = app.extensions["hotline"]
    key = app.config["SECRET_KEY"]
    twilio.init_app(app, build_twilio_voice(c.runtime, key))
    # A reload in this process (`hotline up`): the webhooks take the new menu and routing.
    c.runtime.on_reload.append(lambda: twilio.use_voice(app, build_twilio_voice(c.runtime, key)))


def _secret_key(rt: Runtime) -> str:
    """HOTLINE_WEB_SECRET, else a random key kept in the data directory (mode 0600).
    The variable is checked when the config is read; again here, for a runtime built
    from another environment than this process's."""
    if (reason := web_secret_problem(os.environ.get(ENV_WEB_SECRET, "").strip())) is not None:
        raise ConfigError("environment", ENV_WEB_SECRET, reason)
    return secret(os.environ, ENV_WEB_SECRET, rt.config.data_dir / "web-secret.key", nbytes=48)


def _before() -> ResponseReturnValue | None:
    g.user = None
    if request.endpoint == "static":
        return None
    params.check_encoding()  # before any field is read (the CSRF token's too)
    if "_flashes" in session and not _flash_list(session["_flashes"]):
        session.pop("_flashes")  # signed with our key, but not Flask's list: not shown
    token = session.get(SESSION_KEY)
    if isinstance(token, str):
        g.user = session_user(token)
        if g.user is None:
            session.clear()  # ended, expired or unknown on the server
    elif "uid" in session:
        session.clear()  # a cookie from before server-side sessions
    # Twilio's webhooks carry Twilio's signature instead (web/twilio.py checks it).
    exempt = request.blueprint == "twilio"
    if request.method not in SAFE_METHODS and not exempt and not csrf_ok():
        if request.path.startswith("/api/"):
            return jsonify(error=gettext("CSRF token missing or wrong"), param=CSRF_HEADER), 400
        return _error_page(
            400, gettext("The form's security token is missing or expired: reload it.")
        )
    return None


def _flash_list(value: Any) -> bool:
    """Whether `value` is Flask's list of flashed messages: (category, text) pairs."""
    return isinstance(value, list) and all(
        isinstance(f, list | tuple) and len(f) == 2 and all(isinstance(x, str) for x in f)
        for f in value
    )


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
    for name in ("db", "heavy_db"):
        s = g.pop(name, None)
        if s is not None:
            s.close()


def _error(e: Any) -> ResponseReturnValue:
    """An error page (or JSON error) in the request's language.

    A view's own description (abort(400, text)) is already translated; werkzeug's
    stock English description is replaced by ours.
    """
    code = getattr(e, "code", 500) or 500
    text = getattr(e, "description", "") or ""
    if not text or text == getattr(type(e), "description", None):
        text = _error_text(code)
    headers = {"Retry-After": str(e.retry_after)} if getattr(e, "retry_after", None) else {}
    if request.path.startswith("/api/"):
        return jsonify(error=text), code, headers
    return _error_page(code, text, headers)


def _db_unavailable(e: OperationalError) -> ResponseReturnValue:
    log.warning("%s %s: database unavailable or too slow: %s", request.method, request.path, e.orig)
    return _error(heavy.too_slow() if heavy.timed_out(e) else heavy.unavailable())


def _param_error(e: ParamError) -> ResponseReturnValue:
    if request.path.startswith("/api/"):
        return jsonify(error=e.message, param=e.param), 400
    return _error_page(400, e.message)


def _bad_host(_e: BadHost) -> ResponseReturnValue:
    """A Host header that is no host name (an empty label, one over 63 characters):
    werkzeug refuses it before routing."""
    return _param_error(ParamError("Host", gettext("is not a host name")))


def _cut_short(_e: ClientDisconnected) -> ResponseReturnValue:
    """A body shorter than its Content-Length (the client stopped sending)."""
    return _param_error(ParamError("body", gettext("ended before the length it announced")))


def _value_error(e: Exception) -> ResponseReturnValue:
    log.warning("%s %s: %s: %s", request.method, request.path, type(e).__name__, e)
    text = gettext("a parameter has a value out of range or of the wrong form")
    if request.path.startswith("/api/"):
        return jsonify(error=text, param=None), 400
    return _error_page(400, text)


def _error_text(code: int) -> str:
    texts = {
        400: gettext("The request was not understood."),
        401: gettext("Sign in first."),
        403: gettext("You may not open this page."),
        404: gettext("There is no such page."),
        405: gettext("This page does not accept that method."),
        413: gettext("What was sent is too large."),
        429: gettext("Too many requests: wait and retry."),
        500: gettext("Something went wrong on the server. The error has been logged."),
        503: gettext("The server is busy: retry in a few seconds."),
    }
    return texts.get(code, gettext("Error %(code)s.", code=code))


def _error_page(code: int, text: str, headers: dict[str, str] | None = None) -> ResponseReturnValue:
    from flask import render_template

    _urls_without_host()
    titles = {
        400: gettext("Bad request"),
        401: gettext("Not signed in"),
        403: gettext("Not allowed"),
        404: gettext("Not found"),
        405: gettext("Method not allowed"),
        413: gettext("Too large"),
        429: gettext("Too many requests"),
        500: gettext("Server error"),
        503: gettext("Busy"),
    }
    title = titles.get(code, gettext("Error"))
    return render_template("error.html", code=code, title=title, text=text), code, headers or {}


def _urls_without_host() -> None:
    """Let the page build its links when werkzeug refused the Host header (BadHost):
    Flask then has no URL adapter for the request and `url_for` in the template would
    fail, a 500 instead of the 400. The links are paths, whatever the host, so the
    routes are bound to a neutral name; the request itself stays refused."""
    if request_ctx.url_adapter is None:
        request_ctx.url_adapter = current_app.url_map.bind(
            "localhost", script_name=request.root_path or "/", url_scheme=request.scheme
        )


def close_app(app: Flask) -> None:
    """Stop live streams; dispose the runtime if `create_app` built it."""
    c: WebContext = app.extensions["hotline"]
    c.hub.stopping.set()
    app.extensions[heavy.EXTENSION].close()
    if c.owns_runtime:
        c.runtime.close()
