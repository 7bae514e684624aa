"""Server-sent events for the board: poll the database cheaply, push only on change.

One `BoardHub` per app computes the board snapshot at most every
`poll_seconds` however many browsers listen; each stream sends an event when
the snapshot (apart from its clock) changed, and a comment line as heartbeat.

A stream outlives the database going away: a snapshot that cannot be computed is a
comment (`: unavailable`) instead of an event, the stream goes on polling, and the
next snapshot after the database is back is sent as usual. (A stream cut off there
would leave a supervisor's board frozen until the browser reconnected.) A stream
that cannot compute its first snapshot is refused with the view's 503 instead: the
views compute it before the response starts (`BoardHub.current`, `first`).

A stream does not outlive its session: every `alive_every` s it asks `alive`
(web.context.session_alive) and ends when the session has (signed out, deactivated,
a new password, past its lifetime), as every other request of that cookie would.
"""

from __future__ import annotations

import json
import logging
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

log = logging.getLogger(__name__)
UNAVAILABLE = ": unavailable\n\n"  # an SSE comment: the browser keeps the stream
UNAVAILABLE_RETRY_SECONDS = 1.0  # the next try after a snapshot that failed


def _ended(alive: Callable[[], bool] | None, every: float) -> Callable[[], bool]:
    """`ended()`: whether `alive` answered no, asked at most every `every` s (the
    request has just checked the session; None: the stream never ends this way)."""
    last = time.monotonic()

    def ended() -> bool:
        nonlocal last
        if alive is None or time.monotonic() - last < every:
            return False
        last = time.monotonic()
        return not alive()

    return ended


class BoardHub:
    def __init__(self, compute: Callable[[], dict[str, Any]], poll_seconds: float) -> None:
        self._compute, self._poll = compute, poll_seconds
        self._lock = threading.Lock()
        self._at = 0.0
        self._version = 0
        self._key = ""
        self._payload: dict[str, Any] = {}
        self.stopping = threading.Event()

    def invalidate(self) -> None:
        """Recompute on the next read (after a change made through this app)."""
        with self._lock:
            self._at = 0.0

    def current(self) -> tuple[int, dict[str, Any]]:
        """(version, snapshot); the version changes when anything but the clock changed."""
        with self._lock:
            if not self._payload or time.monotonic() - self._at >= self._poll:
                payload = self._compute()
                key = _content_key(payload)
                if key != self._key:
                    self._version += 1
                    self._key = key
                self._payload, self._at = payload, time.monotonic()
            return self._version, self._payload

    def stream(
        self,
        heartbeat: float,
        max_events: int | None = None,
        alive: Callable[[], bool] | None = None,
        alive_every: float = 5.0,
    ) -> Iterator[str]:
        """SSE lines: one `board` event per change, a comment every `heartbeat` s; the
        end once `alive` says the session has ended."""
        ended = _ended(alive, alive_every)
        return _events(
            self.current, "board", self._poll, heartbeat, self.stopping, max_events, ended
        )


def watch(
    compute: Callable[[], dict[str, Any]],
    event: str,
    poll_seconds: float,
    heartbeat: float,
    stopping: threading.Event,
    max_events: int | None = None,
    first: dict[str, Any] | None = None,
    alive: Callable[[], bool] | None = None,
    alive_every: float = 5.0,
) -> Iterator[str]:
    """SSE lines for one listener's own view (the agent page): `compute` every
    `poll_seconds`, an `event` when it changed (apart from its clock), a comment as
    heartbeat. Unlike the board's hub, nothing is shared between listeners. `first`:
    the first snapshot, computed by the view before the response started; `alive`: as
    for `BoardHub.stream`."""
    last_key: str | None = None
    version = 0

    def snapshot() -> tuple[int, dict[str, Any]]:
        nonlocal first, last_key, version
        payload, first = (first, None) if first is not None else (compute(), None)
        key = _content_key(payload)
        if key != last_key:
            last_key, version = key, version + 1
        return version, payload

    ended = _ended(alive, alive_every)
    return _events(snapshot, event, poll_seconds, heartbeat, stopping, max_events, ended)


def _content_key(payload: dict[str, Any]) -> str:
    """What a snapshot says, apart from its clock: equal keys, no event."""
    return json.dumps({k: v for k, v in payload.items() if k != "now"}, sort_keys=True)


def _events(
    snapshot: Callable[[], tuple[int, dict[str, Any]]],
    event: str,
    poll_seconds: float,
    heartbeat: float,
    stopping: threading.Event,
    max_events: int | None,
    ended: Callable[[], bool],
) -> Iterator[str]:
    """The SSE lines of one stream: `snapshot()` gives (version, payload) every
    `poll_seconds`; an `event` when the version changed, a comment as heartbeat, and
    `UNAVAILABLE` (then a retry) when the snapshot could not be computed; the end when
    `stopping` is set or `ended()` says so."""
    sent, last_version, last_beat = 0, -1, time.monotonic()
    yield "retry: 1000\n\n"
    while not stopping.is_set() and not ended():
        try:
            version, payload = snapshot()
        except Exception:  # the database away: say so, keep the stream, poll on
            log.warning("%s stream: snapshot unavailable", event, exc_info=True)
            yield UNAVAILABLE
            stopping.wait(max(poll_seconds, UNAVAILABLE_RETRY_SECONDS))
            continue
        if version != last_version:
            last_version, sent = version, sent + 1
            yield f"event: {event}\nid: {version}\ndata: {json.dumps(payload)}\n\n"
            if max_events is not None and sent >= max_events:
                return
        elif time.monotonic() - last_beat >= heartbeat:
            last_beat = time.monotonic()
            yield ": keep-alive\n\n"
        stopping.wait(poll_seconds)
