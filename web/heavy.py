"""Heavy requests: reports, exports and call-log scans, kept from starving the rest.

They run on a pool of their own (`ivr.bootstrap.heavy_sessions`: its own engine,
`heavy_slots` connections, every statement cut off after `heavy_timeout_seconds`)
and at most `heavy_slots` at once: a heavy request waits up to
`heavy_wait_seconds` for a slot, then gets 503 with Retry-After. The light
requests (sign-in, /api/me, the board) use the app's usual pool and never queue
behind them. A statement that runs out of time is a 503 too (web.app), never a 500.

    @bp.get("/reports")
    @require(*STAFF)
    @heavy
    def page(): ... heavy_db() ...            # or heavy_sessions() for several units of work

A streamed response takes the slot with it (`take_slot`) and frees it when done.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from functools import wraps
from typing import Any, TypeVar, cast

from flask import current_app, g
from flask_babel import gettext
from sqlalchemy.orm import Session, sessionmaker
from werkzeug.exceptions import ServiceUnavailable

from ivr.adapters.db.engine import READ_ONLY

F = TypeVar("F", bound=Callable[..., Any])
RETRY_AFTER_SECONDS = 5
EXTENSION = "hotline_heavy"  # app.extensions key of the app's HeavyGate


class HeavyGate:
    """At most `slots` heavy requests at once over their own session factory."""

    def __init__(self, sessions: sessionmaker[Session], slots: int, wait_seconds: float) -> None:
        self.sessions = sessions
        self.slots = slots
        self.wait_seconds = wait_seconds
        self._sem = threading.BoundedSemaphore(slots)

    def acquire(self) -> bool:
        return self._sem.acquire(timeout=self.wait_seconds)

    def release(self) -> None:
        self._sem.release()

    def close(self) -> None:
        self.sessions.kw["bind"].dispose()


def current_gate() -> HeavyGate:
    return current_app.extensions[EXTENSION]  # type: ignore[no-any-return]


class _Slot:
    """A taken slot, freed once (by the request's end or by a stream's end)."""

    def __init__(self, gate: HeavyGate) -> None:
        self._gate: HeavyGate | None = gate

    def free(self) -> None:
        gate, self._gate = self._gate, None
        if gate is not None:
            gate.release()


def busy() -> ServiceUnavailable:
    return ServiceUnavailable(
        gettext(
            "Too many reports and exports are running at once: retry in %(n)s seconds.",
            n=RETRY_AFTER_SECONDS,
        ),
        retry_after=RETRY_AFTER_SECONDS,
    )


def too_slow() -> ServiceUnavailable:
    return ServiceUnavailable(
        gettext(
            "The database took too long to answer: narrow the range or retry in %(n)s seconds.",
            n=RETRY_AFTER_SECONDS,
        ),
        retry_after=RETRY_AFTER_SECONDS,
    )


def unavailable() -> ServiceUnavailable:
    return ServiceUnavailable(
        gettext("The database is not answering: retry in %(n)s seconds.", n=RETRY_AFTER_SECONDS),
        retry_after=RETRY_AFTER_SECONDS,
    )


def timed_out(error: Exception) -> bool:
    """Whether a database error is a statement cut off at its time limit (PostgreSQL's
    statement_timeout: SQLSTATE 57014; SQLite: the engine's interrupt), rather than a
    database that is away or refusing."""
    orig = getattr(error, "orig", None)
    return getattr(orig, "sqlstate", None) == "57014" or str(orig) == "interrupted"


def heavy(view: F) -> F:
    """Run `view` in a heavy slot, or refuse with 503 + Retry-After when none frees in time."""

    @wraps(view)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        gate = current_gate()
        if not gate.acquire():
            raise busy()
        g.heavy_slot = _Slot(gate)
        try:
            return view(*args, **kwargs)
        finally:
            slot = g.pop("heavy_slot", None)
            if slot is not None:
                slot.free()

    return cast(F, wrapper)


def take_slot() -> Callable[[], None]:
    """For a streamed response: the slot is the stream's now; call the result when done."""
    slot: _Slot = g.pop("heavy_slot")
    return slot.free


def heavy_sessions() -> sessionmaker[Session]:
    return current_gate().sessions


def heavy_db() -> Session:
    """The request's read session on the heavy pool (closed when the request ends)."""
    if "heavy_db" not in g:
        g.heavy_db = current_gate().sessions()
        g.heavy_db.connection(execution_options=READ_ONLY)
    return g.heavy_db  # type: ignore[no-any-return]
