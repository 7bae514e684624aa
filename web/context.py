"""The web app's per-process context and per-request database session.

Blueprints import `ctx()` and `db()` from here (not from web.app, which
imports the blueprints): the arrows point one way.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from flask import current_app, g
from sqlalchemy.orm import Session

from ivr.adapters.db.engine import READ_ONLY
from ivr.bootstrap import Runtime
from web.live import BoardHub
from web.security import LoginLimiter
from web.settings import WebSettings


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
