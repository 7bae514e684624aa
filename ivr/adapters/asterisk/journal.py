"""The fallback journal: the calls Asterisk served while nobody was listening.

The dialplan's fallback context (FastAGI down or failed: the operator queue, then
voicemail) tells the service about a call with AMI UserEvents. When the service is
down altogether nobody hears them, so the same context also appends one line per
event to a file with Asterisk's `FILE()` (append, line mode; templates.py renders
the lines, hotline.yaml `ami.journal` names the file):

    S|<uid>|<at>|<entered>|<caller>|<name, base64>|<channel>   entered the fallback
    V|<uid>|<at>                                              the queue gave up: voicemail
    A|<linkedid>|<at>|<operator's channel>                    an operator answered
    E|<uid>|<at>|<entered>|<cause>|<caller|system>|<caller>   the caller's channel hung up

Times are Asterisk's Unix time with microseconds; every value was FILTERed to its
characters (or base64) by the dialplan, and is checked again here, so no caller ID
can forge a line or a field. A line that does not fit is skipped with one log line
naming its number.

Replay (`FallbackJournal.replay`, at the service's start and before each sweep of
missed hang-ups) renames the file first (Asterisk's next append starts a new one;
a write that opened the old file just before the rename lands in the renamed file,
which is read again before it is removed), turns each line into the AMI event it
stands for and lets `ami.translate` make the call-log events (one translation for
both paths), and writes them through the call log's spool. What the call log
already knows is not written again: a record with its end was completed by the
AMI listener (or by an earlier replay), and an answer, a voicemail route or the
fallback start already on the record are left as they are.
"""

from __future__ import annotations

import base64
import binascii
import logging
import os
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Protocol

from ivr.adapters.asterisk import names
from ivr.adapters.asterisk.ami import SeatUpdate, translate
from ivr.adapters.files import fsync_path
from ivr.domain.calllog import (
    WEAK_SOURCES,
    CallAnswered,
    CallEnded,
    CallEvent,
    CallStarted,
    Routed,
)

log = logging.getLogger(__name__)

MAX_LINE_BYTES = 4096  # the longest line the dialplan writes is under 2 KiB
WRITE_BATCH = 500  # events per call-log transaction
FALLBACK_SOURCE = "fallback"  # the start ami.translate makes of the fallback UserEvent
HUNG_UP = {
    names.JOURNAL_CALLER_HUNG_UP: "caller hung up",
    names.JOURNAL_SYSTEM_HUNG_UP: "hung up by Asterisk",
}

_UID = re.compile(r"[-.0-9A-Za-z_]{1,64}")
_TIME = re.compile(r"[0-9]{1,12}(\.[0-9]{1,6})?")
_FIELD = {
    "uid": _UID,
    "at": _TIME,
    "entered": re.compile(rf"(?:{_TIME.pattern})?"),
    "caller": re.compile(r"[0-9A-Za-z+*#]{0,64}"),
    "name": re.compile(r"(?:[A-Za-z0-9+/]{4}){0,400}(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?"),
    "channel": re.compile(r"[-.0-9A-Za-z_/@]{0,128}"),
    "cause": re.compile(r"[0-9]{0,4}"),
    "side": re.compile("|".join(map(re.escape, HUNG_UP))),
}
FIELDS = {
    names.JOURNAL_START: ("uid", "at", "entered", "caller", "name", "channel"),
    names.JOURNAL_VOICEMAIL: ("uid", "at"),
    names.JOURNAL_ANSWERED: ("uid", "at", "channel"),
    names.JOURNAL_END: ("uid", "at", "entered", "cause", "side", "caller"),
}

AmiEvent = tuple[str, dict[str, str]]


class JournalLineError(ValueError):
    """A journal line that does not fit its form (the reason names the field, never
    the line's content)."""


@dataclass(frozen=True)
class JournalLine:
    """One parsed line: what happened, when (Asterisk's Unix time), and the AMI event
    it stands for."""

    kind: str
    uid: str
    at: float
    event: AmiEvent


def parse_line(text: str) -> JournalLine:
    """One journal line (without its line end) as the AMI event it stands for.

    >>> line = parse_line("V|1796614831.0|1796614832.127433")
    >>> line.uid, line.at, line.event[1]["UserEvent"]
    ('1796614831.0', 1796614832.127433, 'HotlineFallbackVoicemail')
    """
    if len(text.encode("utf-8", "replace")) > MAX_LINE_BYTES:
        raise JournalLineError(f"longer than {MAX_LINE_BYTES} bytes")
    kind, _, rest = text.partition(names.JOURNAL_SEPARATOR)
    if kind not in FIELDS:
        raise JournalLineError("unknown kind of line")
    expected = FIELDS[kind]
    values = rest.split(names.JOURNAL_SEPARATOR)
    if len(values) != len(expected):
        raise JournalLineError(f"{len(values)} fields, expected {len(expected)}")
    f = dict(zip(expected, values, strict=True))
    for key, value in f.items():
        if not _FIELD[key].fullmatch(value):
            raise JournalLineError(f"field {key} malformed")
    at = _unix_time(f["at"], "at")
    return JournalLine(kind, f["uid"], at, _ami_event(kind, f))


def _unix_time(value: str, what: str) -> float:
    try:
        seconds = float(value)
        datetime.fromtimestamp(seconds, UTC)
    except (ValueError, OverflowError, OSError):
        raise JournalLineError(f"field {what} is not a time") from None
    return seconds


def _ami_event(kind: str, f: dict[str, str]) -> AmiEvent:
    """The AMI event the line stands for, keyed as Asterisk keys it."""
    uid = f["uid"]
    if kind == names.JOURNAL_START:
        try:
            name = base64.b64decode(f["name"], validate=True).decode("utf-8", "replace")
        except (binascii.Error, ValueError):
            raise JournalLineError("field name is not base64") from None
        return (
            "UserEvent",
            {
                "UserEvent": names.USEREVENT_FALLBACK,
                "Uniqueid": uid,
                "Caller": f["caller"],
                "CallerIDNum": f["caller"],
                "CallerIDName": name,
                "Channel": f["channel"],
            },
        )
    if kind == names.JOURNAL_VOICEMAIL:
        return ("UserEvent", {"UserEvent": names.USEREVENT_FALLBACK_VOICEMAIL, "Uniqueid": uid})
    if kind == names.JOURNAL_ANSWERED:
        # the queue member's channel wrote it: its linked id is the caller's uid
        return ("AgentConnect", {"Linkedid": uid, "Interface": f["channel"]})
    cause = "" if f["cause"] in ("", "0") else f["cause"]  # none yet in a hangup handler
    return (
        "Hangup",
        {
            "Uniqueid": uid,
            "Linkedid": uid,
            "AccountCode": names.ACCOUNTCODE_INBOUND,
            "Context": names.CONTEXT_FALLBACK,
            "Cause": cause,
            "Cause-txt": f"{HUNG_UP[f['side']]} (fallback journal)",
            "CallerIDNum": f["caller"],
            "Timestamp": f["at"],
            f"ChanVariable({names.VAR_ENTERED})": f["entered"],
        },
    )


def call_events(line: JournalLine, offset: timedelta) -> list[CallEvent]:
    """The call-log events of a line, through the AMI path's own translation; its
    time moved onto the hotline's clock by `offset` (the hotline's clock less the
    system's, both read now). JournalLineError when the time has no place there."""
    name, keys = line.event
    try:
        at = datetime.fromtimestamp(line.at, UTC) + offset
    except OverflowError:  # a time at the end of the calendar, on a clock set ahead
        raise JournalLineError("field at is out of range on the hotline's clock") from None
    return [e for e in translate(name, keys, at) if not isinstance(e, SeatUpdate)]


class KnownCall(Protocol):
    """What the call log already holds of a call (`SqlCallLog.get_call`'s record)."""

    @property
    def source(self) -> str | None: ...
    @property
    def branch(self) -> str | None: ...
    @property
    def route_kind(self) -> str | None: ...
    @property
    def answered_at(self) -> datetime | None: ...
    @property
    def ended_at(self) -> datetime | None: ...


def still_needed(events: Sequence[CallEvent], known: KnownCall | None) -> list[CallEvent]:
    """The events of one call that add to what the call log holds.

    A record with its end is complete (the AMI listener heard the call through, or
    an earlier replay wrote it): nothing. Otherwise a start only over none or a weak
    one, the fallback's queue route only when the record has no operator route yet,
    the voicemail route, the answer and the end only when the record lacks them. (The
    call log's merge is idempotent anyway; this keeps a record the listener made
    exactly as it was, instead of moving its times by the milliseconds between
    Asterisk's clock and the listener's.)
    """
    if known is None:
        return list(events)
    if known.ended_at is not None:
        return []
    kept: list[CallEvent] = []
    for event in events:
        if isinstance(event, CallStarted):
            needed = known.source is None or known.source in WEAK_SOURCES
        elif isinstance(event, Routed) and event.kind == "voicemail":
            needed = known.route_kind != "voicemail"
        elif isinstance(event, Routed):
            needed = known.branch != names.QUEUE_OPERATOR
        elif isinstance(event, CallAnswered):
            needed = known.answered_at is None
        else:
            needed = isinstance(event, CallEnded)
        if needed:
            kept.append(event)
    return kept


Write = Callable[[Sequence[CallEvent]], None]


@dataclass
class FallbackJournal:
    """The journal file and how to replay it (built by the composition root)."""

    path: Path
    clock: Callable[[], datetime]  # the hotline's
    known: Callable[[str], KnownCall | None]  # the call log's record of a uid
    system_now: Callable[[], datetime] = lambda: datetime.now(UTC)

    @property
    def replaying_path(self) -> Path:
        """Where a replay moves the journal to read it (left there if it failed)."""
        return self.path.with_name(self.path.name + ".replaying")

    @property
    def waiting(self) -> bool:
        """Whether there is anything to replay (the journal, or what a failed replay left)."""
        return self.path.exists() or self.replaying_path.exists()

    def replay(self, write: Write) -> int:
        """Write what the journal adds to the call log with `write` (the call log's
        `record_many`), then remove what was read; returns how many events were
        written. A journal left by a replay that failed is replayed first."""
        written = 0
        for _ in range(2):  # what a failed replay left, then the journal itself
            taken = self.replaying_path
            if not taken.exists():
                try:
                    os.replace(self.path, taken)
                except FileNotFoundError:
                    return written
            written += self._replay_file(taken, write)
            taken.unlink()
            fsync_path(taken.parent)
        return written

    def _replay_file(self, taken: Path, write: Write) -> int:
        """Replay `taken` until a read after the last write finds nothing new (a line
        Asterisk was writing into the file as it was renamed comes in that way)."""
        offset = self.clock() - self.system_now()
        written = 0
        with _LineReader(taken) as reader:
            while lines := reader.complete_lines():
                written += self._apply(taken, lines, offset, write)
        return written

    def _apply(
        self, taken: Path, lines: Sequence[tuple[int, str]], offset: timedelta, write: Write
    ) -> int:
        by_call: dict[str, list[CallEvent]] = {}
        for number, text in lines:
            try:
                line = parse_line(text)
                events = call_events(line, offset)
            except JournalLineError as e:
                log.warning("fallback journal %s: line %d skipped: %s", taken, number, e)
                continue
            by_call.setdefault(line.uid, []).extend(events)
        written = 0
        batch: list[CallEvent] = []
        for uid, events in by_call.items():
            batch.extend(still_needed(events, self._known(uid)))
            if len(batch) >= WRITE_BATCH:
                write(batch)
                written, batch = written + len(batch), []
        if batch:
            write(batch)
            written += len(batch)
        return written

    def _known(self, uid: str) -> KnownCall | None:
        try:
            return self.known(uid)
        except Exception as e:  # noqa: BLE001 - the database away: write all, the merge is idempotent
            log.warning("fallback journal: record of %s not read (%s); replaying it whole", uid, e)
            return None


class _LineReader:
    """The complete lines of a file as they come, numbered from 1; on closing, a last
    line without its line end is logged as a truncated write and skipped."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._file = open(path, "rb")  # noqa: SIM115 - closed by __exit__
        self._pending = b""
        self._number = 0

    def __enter__(self) -> _LineReader:
        return self

    def __exit__(self, *_exc: object) -> None:
        self._file.close()
        if self._pending.strip():
            log.warning(
                "fallback journal %s: line %d skipped: truncated (no line end)",
                self.path,
                self._number + 1,
            )

    def complete_lines(self) -> list[tuple[int, str]]:
        """The lines completed since the last call (empty lines skipped)."""
        self._pending += self._file.read()
        *complete, self._pending = self._pending.split(b"\n")
        lines = []
        for raw in complete:
            self._number += 1
            if raw.strip():
                lines.append((self._number, raw.decode("utf-8", "replace").rstrip("\r")))
        return lines
