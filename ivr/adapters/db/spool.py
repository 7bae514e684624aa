"""Never lose a call event: a disk spool in front of the database, and a write-behind buffer.

`SpoolingCallLog` writes through to `SqlCallLog`; when the database cannot be
reached (server down, SQLite locked for longer than the busy timeout) the
events are appended to a JSON-lines spool file (flushed and fsync'ed) and the
caller carries on. The next write first replays the spool, so the database
sees events in the order they happened; events are idempotent, so an event
replayed twice after a crash does no harm.

Spool files, for a spool path ``calllog.spool``:

* ``calllog.spool`` -- events waiting, one JSON object per line;
* ``calllog.spool.replaying`` -- events being replayed (the spool is renamed to
  this first, so a crash mid-replay loses nothing: it is replayed first next time);
* ``calllog.spool.rejected`` -- events the database refused for good (not JSON,
  or an error other than a connection/lock problem), one by one, kept for a
  human: a batch with one such event is split until only that event is left,
  and the rest of the batch is written (on a direct write and on a replay);
* ``calllog.spool.lock`` -- an ``flock`` lock so several processes (AGI scripts,
  FastAGI server) can share one spool.

They hold full caller numbers: the directory is 0700 and every file 0600,
whatever the umask (`ivr.adapters.files`).

`BufferedCallLog` puts a queue and a writer thread in front of a
`SpoolingCallLog`, so the FastAGI decision path never waits on the database.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import logging
import os
import queue
import threading
import time
import types
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import fields
from datetime import datetime
from enum import Enum
from pathlib import Path
from typing import Any, Final, Protocol, Union, get_args, get_origin, get_type_hints

from sqlalchemy import exc as sa_exc

from ivr.adapters.db.calllog import SqlCallLog
from ivr.adapters.db.engine import DbError
from ivr.adapters.files import fsync_path, open_private, private_dir
from ivr.domain.calllog import CallEvent

logger = logging.getLogger(__name__)

TRANSIENT_ERRORS: Final = (
    sa_exc.OperationalError,
    sa_exc.InterfaceError,
    sa_exc.ProgrammingError,  # e.g. tables missing during a deploy: wait, don't reject
    sa_exc.DisconnectionError,
    sa_exc.TimeoutError,
)
"""The database is unreachable, busy or not migrated yet: spool now, replay later.

A replay stops at these and keeps the events; any other error refuses only the
event concerned, which goes to the `.rejected` file.
"""

REFUSED_ERRORS: Final = (sa_exc.SQLAlchemyError, DbError, ValueError)
"""Not an outage (caught after TRANSIENT_ERRORS): the database refused an event for
good, e.g. a naive datetime, a NUL in text on PostgreSQL, a lone surrogate that no
driver can encode (UnicodeEncodeError is a ValueError). Only that event is rejected."""

# PostgreSQL's "program limit exceeded" (SQLSTATE class 54: an index row over its
# maximum, too many columns or arguments) comes as an OperationalError, but from the
# data: the same event fails again at every replay, so it is refused, not waited out.
_LIMIT_SQLSTATE_CLASS = "54"


def outage(err: BaseException) -> bool:
    """Whether a database error means "unavailable, try later": one of TRANSIENT_ERRORS
    that is not a program limit (those are refusals of the event itself)."""
    if not isinstance(err, TRANSIENT_ERRORS):
        return False
    sqlstate = getattr(getattr(err, "orig", None), "sqlstate", None)
    return not (isinstance(sqlstate, str) and sqlstate.startswith(_LIMIT_SQLSTATE_CLASS))


class SpoolFormatError(DbError):
    """A spool line is not a call event this version understands."""


# --------------------------------------------------------------------------- JSON lines

_EVENT_TYPES: Final[dict[str, type[Any]]] = {cls.__name__: cls for cls in get_args(CallEvent)}
_EVENT_HINTS: Final[dict[type[Any], dict[str, Any]]] = {
    cls: get_type_hints(cls) for cls in _EVENT_TYPES.values()
}


def encode_event(event: CallEvent) -> str:
    """One JSON line (without newline) for `event`; datetimes ISO 8601 with their offset.

    Text that is not valid Unicode (a lone surrogate) is written as a JSON escape,
    so even such an event can be spooled or set aside in UTF-8, and decodes back
    to exactly the event.
    """
    data = {f.name: encode_value(getattr(event, f.name)) for f in fields(event)}
    obj = {"type": type(event).__name__, "event": data}
    line = json.dumps(obj, ensure_ascii=False)
    try:
        line.encode("utf-8")
    except UnicodeEncodeError:
        return json.dumps(obj)
    return line


def decode_event(line: str) -> CallEvent:
    """The event encoded in `line` by `encode_event`; SpoolFormatError if it is not one."""
    try:
        obj = json.loads(line)
        cls = _EVENT_TYPES[obj["type"]]
        hints = _EVENT_HINTS[cls]
        data = obj["event"]
        kwargs = {
            f.name: decode_value(hints[f.name], data[f.name]) for f in fields(cls) if f.name in data
        }
        event: CallEvent = cls(**kwargs)
    except (ValueError, KeyError, TypeError, RecursionError) as err:
        # Not the line itself: it may hold a caller number, and this message is logged.
        raise SpoolFormatError(
            f"spool line of {len(line)} characters is not a call event ({type(err).__name__})"
        ) from err
    return event


def encode_value(value: Any) -> Any:
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, Enum):
        return value.value
    if isinstance(value, tuple):
        return [encode_value(v) for v in value]
    return value


def decode_value(hint: Any, value: Any) -> Any:
    if value is None:
        return None
    origin = get_origin(hint)
    if origin in (Union, types.UnionType):
        for arg in get_args(hint):
            if arg is not type(None):
                return decode_value(arg, value)
    if hint is datetime:
        return datetime.fromisoformat(value)
    if isinstance(hint, type) and issubclass(hint, Enum):
        return hint(value)
    if origin is tuple:
        return tuple(value)
    return value


# --------------------------------------------------------------------------- the spool


class SpoolTarget(Protocol):
    """What a spool writes to and replays into: idempotent writes of one or many records."""

    def record(self, event: Any) -> object: ...
    def record_many(self, events: Sequence[Any]) -> object: ...


class SpoolingCallLog:
    """A call log that spools to disk whenever the database is unavailable.

    `retry_interval`: after a failed database write, further writes go straight
    to the spool for this many seconds instead of trying the database again.
    """

    def __init__(
        self,
        inner: SqlCallLog | SpoolTarget,
        spool_path: Path,
        *,
        retry_interval: float = 1.0,
        batch_size: int = 200,
        clock: Callable[[], float] = time.monotonic,
        encode: Callable[[Any], str] = encode_event,
        decode: Callable[[str], Any] = decode_event,
        what: str = "call log",
    ) -> None:
        self._inner = inner
        # The records and their lines: call events by default; the survey's rows
        # (`survey_spool`) ride the same spool machinery with their own codec.
        self._encode, self._decode, self._what = encode, decode, what
        self._path = Path(spool_path)
        self._replaying = self._path.with_name(self._path.name + ".replaying")
        self._rejected = self._path.with_name(self._path.name + ".rejected")
        self._lock_path = self._path.with_name(self._path.name + ".lock")
        self._retry_interval = retry_interval
        self._batch_size = batch_size
        self._clock = clock
        self._failed_at: float | None = None
        self._thread_lock = threading.Lock()

    @property
    def spool_path(self) -> Path:
        """The spool file (it may not exist)."""
        return self._path

    def record(self, event: CallEvent) -> None:
        """Write `event` to the database, or to the spool if the database is unavailable."""
        self.record_many((event,))

    def record_many(self, events: Iterable[CallEvent]) -> None:
        """Write `events` in one transaction, after any spooled ones; spool them on failure.

        With nothing spooled the write goes straight to the database without
        touching the spool directory, so a bad spool path alone never stops
        the call log.
        """
        batch = tuple(events)
        if not batch:
            return
        if not self._backing_off() and not self.pending():
            self._write_or_spool(batch)
            return
        with self._locked():
            if self._backing_off() or not self._replay_locked()[1]:
                self._append(batch)
                return
            self._write_or_spool(batch, locked=True)

    def spool(self, events: Iterable[CallEvent]) -> None:
        """Append `events` to the spool without trying the database."""
        batch = tuple(events)
        if batch:
            with self._locked():
                self._append(batch)

    def pending(self) -> bool:
        """True when spooled events wait for replay."""
        return _non_empty(self._replaying) or _non_empty(self._path)

    def replay(self) -> int:
        """Re-apply spooled events in order; returns how many were applied.

        Stops at the first connection/lock error, keeping what was not applied.
        """
        with self._locked():
            applied, _done = self._replay_locked()
            return applied

    # -- internals ------------------------------------------------------------------

    @contextlib.contextmanager
    def _locked(self) -> Iterator[None]:
        """Exclusive use of the spool: one thread here, one process on the lock file."""
        with self._thread_lock:
            private_dir(self._path.parent)
            with os.fdopen(open_private(self._lock_path), "ab") as lock_file:
                fcntl.flock(lock_file.fileno(), fcntl.LOCK_EX)
                try:
                    yield
                finally:
                    fcntl.flock(lock_file.fileno(), fcntl.LOCK_UN)

    def _backing_off(self) -> bool:
        return (
            self._failed_at is not None and self._clock() - self._failed_at < self._retry_interval
        )

    def _write_or_spool(self, batch: Sequence[CallEvent], *, locked: bool = False) -> None:
        """Write `batch`; on an outage spool it; an event refused for good is rejected
        alone and the rest of the batch is written."""
        try:
            self._write_isolating(batch, locked=locked)
        except TRANSIENT_ERRORS as err:
            # Whatever part was written is written again on replay: events are idempotent.
            self.note_failure(err)
            if locked:
                self._append(batch)
            else:
                self.spool(batch)
            return
        self._failed_at = None

    def _write_isolating(self, batch: Sequence[CallEvent], *, locked: bool) -> None:
        """Write `batch` in one transaction; if the database refuses it (not an outage),
        split it in halves, in order, down to the refused events, which are rejected.
        Costs two transactions per level only for a batch that holds a refused event."""
        try:
            self._inner.record_many(batch)
        except REFUSED_ERRORS as err:
            if outage(err):
                raise
            if len(batch) == 1:
                self._reject([self._encode(batch[0])], err, locked=locked)
                return
            half = len(batch) // 2
            self._write_isolating(batch[:half], locked=locked)
            self._write_isolating(batch[half:], locked=locked)

    def _reject(self, lines: Sequence[str], err: Exception, *, locked: bool) -> None:
        logger.error("%s: record refused for good, kept in %s: %s", self._what, self._rejected, err)
        if locked:
            _append_lines(self._rejected, lines)
            return
        with self._locked():
            _append_lines(self._rejected, lines)

    def note_failure(self, err: Exception) -> None:
        self._failed_at = self._clock()
        logger.warning("%s: database unavailable, spooling to %s: %s", self._what, self._path, err)

    def _append(self, events: Sequence[CallEvent]) -> None:
        _append_lines(self._path, [self._encode(e) for e in events])

    def _replay_locked(self) -> tuple[int, bool]:
        """Replay `.replaying` then the spool; (events applied, whether all were)."""
        applied = 0
        while True:
            if not self._replaying.exists():
                if not _non_empty(self._path):
                    return applied, True
                os.replace(self._path, self._replaying)
                fsync_path(self._path.parent)
            count, done = self._replay_file()
            applied += count
            if not done:
                return applied, False
            self._replaying.unlink()
            fsync_path(self._path.parent)

    def _replay_file(self) -> tuple[int, bool]:
        """Apply `.replaying` batch by batch; on failure keep the rest in it."""
        # At "\n" only: JSON keeps U+2028, U+2029 and NEL within a line, and splitlines
        # would cut an event's line there (its halves rejected: the event lost).
        text = self._replaying.read_text("utf-8", "replace")
        lines = [ln for ln in text.split("\n") if ln.strip()]
        applied = 0
        for start in range(0, len(lines), self._batch_size):
            try:
                applied += self._apply_lines(lines[start : start + self._batch_size])
            except TRANSIENT_ERRORS as err:
                self.note_failure(err)
                _write_atomically(self._replaying, lines[start:])
                return applied, False
        self._failed_at = None
        return applied, True

    def _apply_lines(self, lines: Sequence[str]) -> int:
        """Apply a batch in one transaction, or line by line when some line is refused."""
        try:
            self._inner.record_many([self._decode(line) for line in lines])
            return len(lines)
        except REFUSED_ERRORS as err:  # SpoolFormatError is a DbError
            if outage(err):
                raise
            # one by one: the refused line is set aside, the others applied
        return sum(self._apply_one(line) for line in lines)

    def _apply_one(self, line: str) -> int:
        try:
            self._inner.record(self._decode(line))
            return 1
        except REFUSED_ERRORS as err:
            if outage(err):
                raise
            self._reject([line], err, locked=True)
            return 0


def _non_empty(path: Path) -> bool:
    try:
        return path.stat().st_size > 0
    except FileNotFoundError:
        return False


def _append_lines(path: Path, lines: Sequence[str]) -> None:
    """Append lines durably (flush + fsync); the file is 0600."""
    with os.fdopen(open_private(path, "a"), "a", encoding="utf-8") as f:
        f.write("".join(line + "\n" for line in lines))
        f.flush()
        os.fsync(f.fileno())


def _write_atomically(path: Path, lines: Sequence[str]) -> None:
    """Replace `path` with `lines`: write a temporary file, fsync, rename."""
    tmp = path.with_name(path.name + ".tmp")
    with os.fdopen(open_private(tmp, "w"), "w", encoding="utf-8") as f:
        f.write("".join(line + "\n" for line in lines))
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)
    fsync_path(path.parent)


# --------------------------------------------------------------------------- write-behind


class _Stop:
    """Queue marker: the writer thread drains and exits."""


# How long the writer lets events gather before a batch. Longer batches cost less
# CPU per call (a batch's transaction and statements are paid per batch): 200 ms
# took 12-15 % off the FastAGI process's CPU in `hotline bench fastagi`, but with
# Asterisk on the same cores it was some 5 %, and the decision p99 was worse in
# three of four pairs at 175 calls/s (a longer batch holds the GIL in longer
# stretches while calls wait for their route). The decision's latency is what
# bounds the IVR's capacity, so the batches stay short.
WRITE_INTERVAL_SECONDS = 0.05


class BufferedCallLog:
    """Queues events and writes them from a background thread in small batches.

    `record` never touches the database, so the FastAGI decision path never waits
    on it. The writer gathers events for `interval` seconds (or `max_batch`
    events; at 200 calls/s, 50 ms is some 50 events in one transaction) and
    hands them to `log.record_many`, which spools on database failure and sets
    aside only the events the database refuses; on any other error the batch is
    spooled as it is. `close()` (also
    run when the interpreter exits) writes what is queued. After close, `record`
    writes synchronously through `log`.
    """

    def __init__(
        self,
        log: SpoolingCallLog,
        *,
        interval: float = WRITE_INTERVAL_SECONDS,
        max_batch: int = 500,
    ) -> None:
        self._log = log
        self._interval = interval
        self._max_batch = max_batch
        self._queue: queue.Queue[CallEvent | _Stop] = queue.Queue()
        self._closed = False
        self._state_lock = threading.Lock()
        self._wake = threading.Event()  # set by close(): stop gathering, write now
        self._thread = threading.Thread(target=self._run, name="calllog-writer", daemon=False)
        self._thread.start()

    def record(self, event: CallEvent) -> None:
        """Queue `event` for writing (synchronous write once closed)."""
        with self._state_lock:
            if not self._closed:
                self._queue.put(event)
                return
        self._log.record(event)

    def record_many(self, events: Iterable[CallEvent]) -> None:
        """Queue `events`, in order."""
        for event in events:
            self.record(event)

    def flush(self) -> None:
        """Block until every event queued so far has been written or spooled."""
        self._queue.join()

    def close(self) -> None:
        """Write what is queued and stop the writer thread; idempotent."""
        with self._state_lock:
            if self._closed:
                return
            self._closed = True
            self._queue.put(_Stop())
        self._wake.set()
        self._thread.join()

    def __enter__(self) -> BufferedCallLog:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()

    # -- writer thread --------------------------------------------------------------

    def _run(self) -> None:
        stop = False
        while not stop:
            batch, taken, stop = self._next_batch()
            if batch:
                self._write(batch)
            for _ in range(taken):
                self._queue.task_done()

    def _next_batch(self) -> tuple[list[CallEvent], int, bool]:
        """Wait for an event, then let more gather for `interval`: (events, items taken, stop?).

        After the first event the writer sleeps out the interval and then takes
        what has queued in one pass: one wake-up per batch, not one per event
        (under load, a wake-up per event cost the service's other threads the GIL
        hundreds of times a second). Stops on the close marker, or once the main
        thread has ended (interpreter exit without close) and the queue is empty.
        """
        batch: list[CallEvent] = []
        first = self._get(timeout=0.2)
        if first is None:
            return batch, 0, not threading.main_thread().is_alive() and self._queue.empty()
        if isinstance(first, _Stop):
            return batch, 1, True
        batch.append(first)
        if self._interval > 0 and self._queue.qsize() < self._max_batch:
            self._wake.wait(self._interval)
        while len(batch) < self._max_batch:
            try:
                item = self._queue.get_nowait()
            except queue.Empty:
                break
            if isinstance(item, _Stop):
                return batch, len(batch) + 1, True
            batch.append(item)
        return batch, len(batch), False

    def _get(self, timeout: float) -> CallEvent | _Stop | None:
        try:
            return self._queue.get(timeout=timeout)
        except queue.Empty:
            return None

    def _write(self, batch: list[CallEvent]) -> None:
        try:
            self._log.record_many(batch)
        except Exception:
            logger.exception("call log: writing %d events failed; spooling them", len(batch))
            self._spool(batch)

    def _spool(self, batch: list[CallEvent]) -> None:
        try:
            self._log.spool(batch)
        except Exception:
            uids = sorted({e.uid for e in batch})
            logger.exception("call log: could not spool events of calls %s", uids)
