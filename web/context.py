"""The web app's per-process context and per-request database session.

Blueprints import `ctx()` and `db()` from here (not from web.app, which
imports the blueprints): the arrows point one way.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from flask import current_app, g, session
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session

from ivr.adapters.db.engine import READ_ONLY
from ivr.bootstrap import Runtime
from web import store
from web.live import BoardHub
from web.security import LoginLimiter
from web.settings import WebSettings

SESSION_KEY = "sid"  # the signed cookie's key for the server-side session token


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


def session_user(token: str) -> Any:
    """The signed-in user of a server-side session token, or None (ended, expired, unknown)."""
    c = ctx()
    now = c.now()
    st = c.settings
    check = store.check_session(
        db(),
        token,
        now,
        timedelta(seconds=st.session_lifetime_seconds),
        timedelta(seconds=st.session_touch_seconds),
    )
    if check is None:
        return None
    if check.stale:
        with c.runtime.sessions.begin() as s:
            store.touch_session(s, token, now)
    return check.user


def session_alive() -> Callable[[], bool]:
    """For a response that outlives its request (a live stream): whether the request's
    session is still live, asked in its own database session. The database away is no
    answer (True): the stream is kept, as web.live keeps it then."""
    c = ctx()
    token = session.get(SESSION_KEY)
    st = c.settings
    lifetime = timedelta(seconds=st.session_lifetime_seconds)
    touch = timedelta(seconds=st.session_touch_seconds)

    def alive() -> bool:
        if not isinstance(token, str):
            return False
        try:
            with c.runtime.sessions() as s:
                return store.check_session(s, token, c.now(), lifetime, touch) is not None
        except SQLAlchemyError:
            return True

    return alive


def start_session(user_id: int) -> None:
    """Sign `user_id` in: a fresh cookie (no fixation) naming a new server-side session.
    The session this browser had ends (a shared desk: the one before did not sign out)."""
    c = ctx()
    before = session.get(SESSION_KEY)
    with c.runtime.sessions.begin() as s:
        if isinstance(before, str):
            store.end_session(s, before, c.now(), "signed_in_again")
        token = store.start_session(s, user_id, c.now())
    session.clear()
    session.permanent = True
    session[SESSION_KEY] = token


def end_session() -> None:
    """Sign out: the server-side session ends, so a copy of the cookie is worthless."""
    token = session.get(SESSION_KEY)
    if isinstance(token, str):
        c = ctx()
        with c.runtime.sessions.begin() as s:
            store.end_session(s, token, c.now())
    session.clear()
