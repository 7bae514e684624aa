"""Clocks for the edge. The domain never reads one; it is handed `at`."""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

ENV_NOW = "HOTLINE_NOW"


def system_clock() -> datetime:
    return datetime.now(UTC)


def pinned_clock(start: datetime) -> Callable[[], datetime]:
    """A clock that starts at `start` and then runs at real speed.

    HOTLINE_NOW pins the hotline's notion of "now" for tests and demos without
    touching the machine's clock; durations (wait, talk) stay real.
    """
    if start.tzinfo is None:
        raise ValueError(f"{ENV_NOW} must carry a UTC offset, e.g. 2026-11-23T10:00:00+08:00")
    origin = time.monotonic()

    def now() -> datetime:
        return start + timedelta(seconds=time.monotonic() - origin)

    return now


def clock_from_env(env: dict[str, str] | None) -> Callable[[], datetime]:
    value = (env or {}).get(ENV_NOW)
    if not value:
        return system_clock
    try:
        start = datetime.fromisoformat(value)
    except ValueError:
        raise ValueError(f"{ENV_NOW}={value!r} is not an ISO 8601 date-time") from None
    return pinned_clock(start)
