"""The call log in the database: applies call-log events, reads calls back.

Events (`ivr.domain.calllog`) may arrive twice (a spool replay) and out of
order (the AMI listener's CallEnded before the FastAGI server's CallStarted).
Each event is applied as a merge that gives the same row whatever the order
and however many times it is applied (while the clocks agree; below for when
they do not):

* the call row is created on first sight of its uid (``INSERT .. ON CONFLICT
  DO NOTHING``), then locked (``SELECT .. FOR UPDATE`` on PostgreSQL; SQLite's
  ``BEGIN IMMEDIATE`` already holds the write lock), so two writer processes
  never interleave on one call;
* CallStarted fills a placeholder row (first CallStarted wins, except that
  one read off the AMI Hangup, source ``ami``, gives way to any other);
* MenuStep inserts (call, seq) once;
* Routed: the decision with the latest ``at`` wins; ``routed_at`` is the
  earliest routing (when the caller started waiting);
* CallAnswered: the earliest answer wins;
* CallEnded: the earliest end wins; the first non-empty hang-up cause and the
  first stated outcome are kept;
* outcome, wait and talk seconds are recomputed from the merged row;
* the days the changed calls started on (before and after) are marked changed, so
  their report rollups are recomputed on the next read (`rollups.py`).

The times of a row are always in order, whatever the order of the events and
whichever clocks stamped them (FastAGI's, the AMI's, Twilio's, the dialer's)::

    started_at <= routed_at (if any) <= answered_at (if any) <= ended_at (if any)

One rule keeps it so, in the merge that holds the row (adapters do not clamp
times of their own): **what the row holds stands; a newcomer gives way.** An
event's time is moved, before it is compared with the row's, to the nearest time
that keeps the order with the times the row already holds: a start is never
after the routing, answer or end; a routing never before the start nor after the
answer or end; an answer never before the start or routing nor after the end; an
end never before the start, routing or answer. A placeholder's start (no
CallStarted yet) is the earliest time seen, so it is before everything.

So nothing moves while the clocks agree: the row is then the same in any order,
batching and number of replays. When they disagree, the time that landed first is
the one kept, and the later one is moved onto it, never the other way round: an
end at 10:00:30 (a status callback's Timestamp) and then a start at 10:00:45 (our
clock) give a call started and ended at 10:00:30; the same two in the other order
give one started and ended at 10:00:45. A time already stored is never rewritten
to make room (it may have been reported, and its day rolled up), and moving the
newcomer costs a few comparisons against the row in hand, no read. The wait and
talk seconds derived from an ordered row are never negative.
"""

from __future__ import annotations

import functools
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any, Final, cast

from sqlalchemy import Table, bindparam, func, insert, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Connection
from sqlalchemy.orm import Session, selectinload, sessionmaker

from ivr import phone
from ivr.adapters.db.engine import READ_ONLY
from ivr.adapters.db.models import Call, CallStep, NaiveDatetimeError, RoutingDecision
from ivr.adapters.db.rollups import mark_changed
from ivr.domain.calllog import (
    TWILIO_SOURCES,
    WEAK_SOURCES,
    CallAnswered,
    CallEnded,
    CallEvent,
    CallStarted,
    MenuStep,
    Outcome,
    Routed,
    derive_outcome,
)
from ivr.domain.routing import has_number

# --------------------------------------------------------------------------- read models


@dataclass(frozen=True)
class StepRecord:
    """One menu step of a call, as read back."""

    seq: int
    at: datetime
    node: str
    event: str
    key: str
    detail: str
    input: str = ""  # key | speech ("" for timeouts and steps before speech input)
    phrase: str = ""
    confidence: float | None = None


@dataclass(frozen=True)
class DecisionRecord:
    """The routing decision of a call and the router's trace of why."""

    at: datetime
    branch: str
    kind: str
    target: str
    priority: int
    vip: bool
    language: str
    trace: tuple[str, ...]


@dataclass(frozen=True)
class CallRecord:
    """A call as the call-log screen and reports see it (aware UTC datetimes)."""

    uid: str
    caller: str
    caller_name: str
    dialed: str
    channel: str
    source: str | None  # None: only late events seen, no CallStarted yet
    language: str
    started_at: datetime
    routed_at: datetime | None
    answered_at: datetime | None
    ended_at: datetime | None
    branch: str | None
    route_kind: str | None
    route_target: str | None
    priority: int
    vip: bool
    answered_seat: str | None
    answered_agent: str | None
    outcome: Outcome
    hangup_cause: str
    wait_seconds: float | None
    talk_seconds: float | None
    steps: tuple[StepRecord, ...]
    decision: DecisionRecord | None


# --------------------------------------------------------------------------- repository


class SqlCallLog:
    """Applies call-log events to the database; one transaction per call of record/record_many.

    Caller numbers are stored in E.164 when they parse (national forms in `region`),
    else as Asterisk gave them; lookups by caller take any form of the number.
    """

    def __init__(self, session_factory: sessionmaker[Session], region: str | None = None) -> None:
        self._session_factory = session_factory
        self._region = region

    def caller_key(self, number: str) -> str:
        """How `number` is stored as a caller: E.164 when it parses, else as given."""
        return phone.caller_key(number, self._region)

    def _stored(self, event: CallEvent) -> CallEvent:
        if isinstance(event, CallStarted) and event.caller:
            return replace(event, caller=self.caller_key(event.caller))
        return event

    def record(self, event: CallEvent) -> None:
        """Apply one event in its own transaction."""
        self.record_many((event,))

    def record_many(self, events: Iterable[CallEvent]) -> None:
        """Apply events in order, all in one transaction (all or nothing)."""
        batch = tuple(self._stored(e) for e in events)
        if batch:
            with self._session_factory.begin() as session:
                apply_events(session, batch)

    def previous_agent(self, caller: str, since: datetime) -> str | None:
        """The agent who most recently answered `caller` at or after `since`, if any
        (None for no number: the calls without one are not one caller's)."""
        if not has_number(caller):
            return None
        with self._session_factory() as session:
            session.connection(execution_options=READ_ONLY)
            return session.scalars(
                select(Call.answered_agent)
                .where(
                    Call.caller == self.caller_key(caller),
                    Call.answered_at >= since,
                    Call.answered_agent.is_not(None),
                    Call.answered_agent != "",
                )
                .order_by(Call.answered_at.desc())
                .limit(1)
            ).first()

    def last_id(self) -> int:
        """The newest call row's id (0 when empty): a watermark for `latest_from`."""
        with self._session_factory() as session:
            session.connection(execution_options=READ_ONLY)
            return int(session.scalar(select(func.coalesce(func.max(Call.id), 0))) or 0)

    def latest_from(self, caller: str, after_id: int = 0) -> CallRecord | None:
        """The newest call from `caller` whose row id is above `after_id`."""
        with self._session_factory() as session:
            session.connection(execution_options=READ_ONLY)
            uid = session.scalars(
                select(Call.uid)
                .where(Call.caller == self.caller_key(caller), Call.id > after_id)
                .order_by(Call.id.desc())
                .limit(1)
            ).first()
        return self.get_call(uid) if uid else None

    def open_on_channels(self, since: datetime) -> list[str]:
        """The uids of the calls started at or after `since` on an Asterisk channel
        whose end is not recorded: what the missed hang-up sweep checks against the
        channels Asterisk still has (`ivr.app.hangups`)."""
        with self._session_factory() as session:
            session.connection(execution_options=READ_ONLY)
            return list(
                session.scalars(
                    select(Call.uid).where(
                        Call.started_at >= since,
                        Call.ended_at.is_(None),
                        Call.channel != "",
                        Call.source.not_in(TWILIO_SOURCES),
                    )
                )
            )

    def get_call(self, uid: str) -> CallRecord | None:
        """The call with Asterisk uniqueid `uid`, with its steps and decision."""
        with self._session_factory() as session:
            session.connection(execution_options=READ_ONLY)
            call = session.scalars(
                select(Call)
                .where(Call.uid == uid)
                .options(selectinload(Call.steps), selectinload(Call.decision))
            ).one_or_none()
            return None if call is None else to_record(call)


# --------------------------------------------------------------------------- applying events

_CALLS: Final = cast(Table, Call.__table__)
_STEPS: Final = cast(Table, CallStep.__table__)
_DECISIONS: Final = cast(Table, RoutingDecision.__table__)
_CALL_FIELDS: Final = tuple(c.name for c in _CALLS.columns if c.name not in ("id", "uid"))
_DECISION_FIELDS: Final = tuple(c.name for c in _DECISIONS.columns if c.name != "id")
_Row = dict[str, Any]

# Built once: a batch runs them with new values only (building a statement and its
# cache key per batch was a tenth of the writer's time). Expanding IN lists.
_PLACEHOLDERS: Final = {
    is_pg: (postgresql.insert if is_pg else sqlite.insert)(_CALLS).on_conflict_do_nothing(
        index_elements=["uid"]
    )
    for is_pg in (False, True)
}
_LOCK_CALLS: Final = (
    select(_CALLS)
    .where(_CALLS.c.uid.in_(bindparam("uids", expanding=True)))
    .order_by(_CALLS.c.uid)
    .with_for_update()
)
_DECISIONS_OF: Final = select(_DECISIONS).where(
    _DECISIONS.c.call_id.in_(bindparam("ids", expanding=True))
)
_STEPS_OF: Final = select(_STEPS.c.call_id, _STEPS.c.seq).where(
    _STEPS.c.call_id.in_(bindparam("ids", expanding=True))
)
_INSERT_STEPS: Final = insert(_STEPS)
_INSERT_DECISIONS: Final = insert(_DECISIONS)


def apply_events(session: Session, events: Sequence[CallEvent]) -> None:
    """Merge events into their calls, inside the caller's transaction.

    A batch costs a fixed handful of statements however many events and calls
    it holds: the call rows are created (placeholders) and locked first, in uid
    order, so two processes writing overlapping batches cannot deadlock on
    PostgreSQL; then they are read, with the decisions of the calls routed in the
    batch and the step numbers of those with menu steps in it; the events are
    merged in memory in order, and what changed is written back: one executemany
    per table, and for call rows one per set of changed columns (only those are
    set). (The ORM unit of work, one flush per event, cost the FastAGI process
    more CPU than the calls themselves under load.)
    """
    for event in events:
        _require_aware(event.at, event)
    if not events:
        return
    conn = session.connection()
    merge = _Merge.load(conn, events)
    for event in events:
        merge.apply(event)
    merge.write(conn)


def _require_aware(at: datetime, event: CallEvent) -> None:
    if at.tzinfo is None or at.utcoffset() is None:
        raise NaiveDatetimeError(
            f"{type(event).__name__} for call {event.uid}: naive datetime {at.isoformat()}"
        )


class _Merge:
    """The rows a batch touches, as plain dicts, and what it changed in them."""

    def __init__(self, calls: dict[str, _Row], decisions: dict[int, _Row], steps: set[Any]) -> None:
        self.calls = calls
        self.decisions = decisions
        self.steps: set[tuple[int, int]] = steps
        self.new_steps: list[_Row] = []
        self.dirty_calls: set[str] = set()
        self.dirty_decisions: set[int] = set()
        # the rows as read: only what changed is written, and a call that moves to
        # another day changes both days' rollups
        self.read = {uid: dict(call) for uid, call in calls.items()}

    @classmethod
    def load(cls, conn: Connection, events: Sequence[CallEvent]) -> _Merge:
        """Create missing call rows (placeholders started at the earliest event), lock, read."""
        first_seen: dict[str, datetime] = {}
        for event in events:
            if event.uid not in first_seen or event.at < first_seen[event.uid]:
                first_seen[event.uid] = event.at
        uids = sorted(first_seen)
        conn.execute(
            _PLACEHOLDERS[conn.dialect.name == "postgresql"],
            [{"uid": uid, "started_at": first_seen[uid]} for uid in uids],
        )
        calls = {row.uid: dict(row._mapping) for row in conn.execute(_LOCK_CALLS, {"uids": uids})}
        # A call's decision and step numbers are read only when its events need them.
        routed = sorted({calls[e.uid]["id"] for e in events if isinstance(e, Routed)})
        stepped = sorted({calls[e.uid]["id"] for e in events if isinstance(e, MenuStep)})
        decisions = (
            {r.call_id: dict(r._mapping) for r in conn.execute(_DECISIONS_OF, {"ids": routed})}
            if routed
            else {}
        )
        steps: set[Any] = (
            {(r.call_id, r.seq) for r in conn.execute(_STEPS_OF, {"ids": stepped})}
            if stepped
            else set()
        )
        return cls(calls, decisions, steps)

    def apply(self, event: CallEvent) -> None:
        call = self.calls[event.uid]
        if call["source"] is None and event.at < call["started_at"]:
            call["started_at"] = event.at  # placeholder: earliest time seen so far
        if isinstance(event, CallStarted):
            self._started(call, event)
        elif isinstance(event, MenuStep):
            self._step(call, event)
        elif isinstance(event, Routed):
            self._routed(call, event)
        elif isinstance(event, CallAnswered):
            self._answered(call, event)
        else:
            self._ended(call, event)
        self.dirty_calls.add(event.uid)

    def _started(self, call: _Row, event: CallStarted) -> None:
        if call["source"] is not None and (
            call["source"] not in WEAK_SOURCES or event.source in WEAK_SOURCES
        ):
            return  # first CallStarted wins; any other source over a weak one (AMI's)
        call.update(
            source=event.source,
            started_at=_in_order(call, "started_at", event.at),
            caller=event.caller,
            caller_name=event.caller_name,
            dialed=event.dialed,
            channel=event.channel,
        )

    def _step(self, call: _Row, event: MenuStep) -> None:
        key = (call["id"], event.seq)
        if key in self.steps:
            return
        self.steps.add(key)
        self.new_steps.append(
            {
                "call_id": call["id"],
                "seq": event.seq,
                "at": event.at,
                "node": event.node,
                "event": event.event,
                "key": event.key,
                "detail": event.detail,
                "input": event.input,
                "phrase": event.phrase,
                "confidence": event.confidence,
            }
        )

    def _routed(self, call: _Row, event: Routed) -> None:
        routed_at = _in_order(call, "routed_at", event.at)
        if call["routed_at"] is None or routed_at < call["routed_at"]:
            call["routed_at"] = routed_at
        decision = self.decisions.get(call["id"])
        if decision is not None and decision["at"] > event.at:
            return  # a later decision is already recorded
        if decision is None:
            decision = self.decisions[call["id"]] = {"id": None, "call_id": call["id"]}
        decision.update(
            at=event.at,
            branch=event.branch,
            kind=event.kind,
            target=event.target,
            priority=event.priority,
            vip=event.vip,
            language=event.language,
            trace=list(event.trace),
        )
        self.dirty_decisions.add(call["id"])
        call.update(
            branch=event.branch,
            route_kind=event.kind,
            route_target=event.target,
            priority=event.priority,
            vip=event.vip,
        )
        if event.language:
            call["language"] = event.language

    def _answered(self, call: _Row, event: CallAnswered) -> None:
        answered_at = _in_order(call, "answered_at", event.at)
        if call["answered_at"] is not None and call["answered_at"] <= answered_at:
            return  # the earliest answer wins
        call.update(
            answered_at=answered_at,
            answered_seat=event.seat,
            answered_agent=event.agent_id or None,
        )

    def _ended(self, call: _Row, event: CallEnded) -> None:
        ended_at = _in_order(call, "ended_at", event.at)
        if call["ended_at"] is None or ended_at < call["ended_at"]:
            call["ended_at"] = ended_at
        if not call["hangup_cause"] and event.hangup_cause:
            call["hangup_cause"] = event.hangup_cause
        if call["reported_outcome"] is None and event.outcome is not None:
            call["reported_outcome"] = Outcome(event.outcome).value

    def write(self, conn: Connection) -> None:
        """One executemany per table and shape for what changed: a call row sets only
        the columns that differ from what was read (binding every column of every
        row was most of the writer's time under load), grouped by which columns."""
        by_columns: dict[tuple[str, ...], list[_Row]] = {}
        for uid in sorted(self.dirty_calls):
            call, read = self.calls[uid], self.read[uid]
            _refresh_derived(call)
            columns = tuple(f for f in _CALL_FIELDS if call[f] != read[f])
            if columns:
                row = {f"b_{f}": call[f] for f in columns}
                row["b_id"] = call["id"]
                by_columns.setdefault(columns, []).append(row)
        for columns, rows in by_columns.items():
            conn.execute(_update_calls(columns), rows)
        if self.new_steps:
            conn.execute(_INSERT_STEPS, self.new_steps)
        new, changed = [], []
        for call_id in sorted(self.dirty_decisions):
            decision = self.decisions[call_id]
            fields = {f: decision[f] for f in _DECISION_FIELDS}
            if decision["id"] is None:
                new.append(fields)
            else:
                changed.append({"b_id": decision["id"], **{f"b_{f}": v for f, v in fields.items()}})
        if new:
            conn.execute(_INSERT_DECISIONS, new)
        if changed:
            conn.execute(_UPDATE_DECISIONS, changed)
        # last, so the counter rows stay locked for one round trip (rollups.py)
        mark_changed(
            conn,
            [
                t
                for uid in self.dirty_calls
                for t in (self.read[uid]["started_at"], self.calls[uid]["started_at"])
            ],
        )


# The row's times in their order: each is never before those ahead of it in this
# tuple, nor after those behind it.
_TIMES: Final = ("started_at", "routed_at", "answered_at", "ended_at")
_BEFORE: Final = {f: _TIMES[:i] for i, f in enumerate(_TIMES)}
_AFTER: Final = {f: _TIMES[i + 1 :] for i, f in enumerate(_TIMES)}


def _in_order(call: _Row, field: str, at: datetime) -> datetime:
    """`at` as the row's `field`: moved, if need be, to the nearest time that keeps the
    row in order (not before the times it holds ahead of `field`, nor after those
    behind it); the newcomer gives way, the row's times stand (module docstring)."""
    for f in _BEFORE[field]:
        held = call[f]
        if held is not None and held > at:
            at = held
    for f in _AFTER[field]:
        held = call[f]
        if held is not None and held < at:
            at = held
    return at


def _update_by_id(table: Table, columns: Sequence[str]) -> Any:
    """UPDATE table SET each column = :b_<column> WHERE id = :b_id (for executemany)."""
    return (
        update(table)
        .where(table.c.id == bindparam("b_id"))
        .values({c: bindparam(f"b_{c}") for c in columns})
    )


@functools.cache
def _update_calls(columns: tuple[str, ...]) -> Any:
    """The UPDATE of these call columns (a handful of shapes: which events a batch held)."""
    return _update_by_id(_CALLS, columns)


_UPDATE_DECISIONS: Final = _update_by_id(_DECISIONS, _DECISION_FIELDS)


def _refresh_derived(call: _Row) -> None:
    """Recompute outcome, wait and talk seconds from what the row now knows."""
    call["outcome"] = _outcome(call).value
    waited_until = call["answered_at"] or call["ended_at"]
    call["wait_seconds"] = _seconds(call["routed_at"], waited_until)
    call["talk_seconds"] = _seconds(call["answered_at"], call["ended_at"])


def _outcome(call: _Row) -> Outcome:
    if call["ended_at"] is None:
        return Outcome.IN_PROGRESS
    if call["reported_outcome"] is not None:
        return Outcome(call["reported_outcome"])
    return derive_outcome(answered=call["answered_at"] is not None, route_kind=call["route_kind"])


def _seconds(start: datetime | None, end: datetime | None) -> float | None:
    """Seconds from `start` to `end`, never negative (clock skew between hosts)."""
    if start is None or end is None:
        return None
    return max(0.0, (end - start).total_seconds())


# --------------------------------------------------------------------------- reading


def to_record(call: Call) -> CallRecord:
    """Copy an ORM call (with steps and decision) into a plain frozen record."""
    return CallRecord(
        uid=call.uid,
        caller=call.caller,
        caller_name=call.caller_name,
        dialed=call.dialed,
        channel=call.channel,
        source=call.source,
        language=call.language,
        started_at=call.started_at,
        routed_at=call.routed_at,
        answered_at=call.answered_at,
        ended_at=call.ended_at,
        branch=call.branch,
        route_kind=call.route_kind,
        route_target=call.route_target,
        priority=call.priority,
        vip=call.vip,
        answered_seat=call.answered_seat,
        answered_agent=call.answered_agent,
        outcome=Outcome(call.outcome),
        hangup_cause=call.hangup_cause,
        wait_seconds=call.wait_seconds,
        talk_seconds=call.talk_seconds,
        steps=tuple(_step_record(s) for s in call.steps),
        decision=None if call.decision is None else _decision_record(call.decision),
    )


def _step_record(step: CallStep) -> StepRecord:
    return StepRecord(
        step.seq,
        step.at,
        step.node,
        step.event,
        step.key,
        step.detail,
        step.input,
        step.phrase,
        step.confidence,
    )


def _decision_record(d: RoutingDecision) -> DecisionRecord:
    return DecisionRecord(
        d.at, d.branch, d.kind, d.target, d.priority, d.vip, d.language, tuple(d.trace)
    )
