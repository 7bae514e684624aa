"""Cases in the database: numbers, records, calls, events, the board's queries.

* **Unique numbers under concurrency.** `create` takes the month's next serial
  with ``UPDATE case_serials SET last = last + 1 .. RETURNING last`` (the row
  lock serialises writers on PostgreSQL; ``BEGIN IMMEDIATE`` does on SQLite) in
  the same transaction as the case's insert; a month's first case inserts the
  row with ``ON CONFLICT DO NOTHING`` and retries the update if another writer
  got there first (`serials.next_serial`, shared with the visitor files).
  ``uq_cases_case_no`` is the last line of defence.
* **Every change is an event** (`case_events`): who, when, what, in the
  transaction of the change.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any, TypeVar

from sqlalchemy import Select, and_, case, func, select, text
from sqlalchemy.orm import Session, sessionmaker

from ivr.adapters.db.case_ledger import cancel_callbacks, event_row, lock_callbacks
from ivr.adapters.db.engine import READ_ONLY
from ivr.adapters.db.filters import is_sqlite, starts_with
from ivr.adapters.db.models import Call, NaiveDatetimeError
from ivr.adapters.db.models_cases import (
    ACTIVE_SQL,
    CaseCallRow,
    CaseEventRow,
    CaseRow,
    CaseSerialRow,
)
from ivr.adapters.db.serials import next_serial
from ivr.app.cases import CallInfo, CaseNotFoundError, NewCase
from ivr.domain.cases import (
    ACTIVE_STATES,
    Case,
    CaseEvent,
    CaseKind,
    CaseState,
    Escalation,
    check_case_transition,
    escalation_steps,
    format_case_no,
)

_Q = TypeVar("_Q", bound=Select[*tuple[Any, ...]])
_ACTIVE = sorted(s.value for s in ACTIVE_STATES)
# The active-state predicate as the partial index's very text, with literals: SQLite uses
# a partial index only for a query whose WHERE contains its predicate word for word.
_ACTIVE_WHERE = text(ACTIVE_SQL)
_CASE_NO_PREFIX = re.compile(r"[0-9]{1,6}(-[0-9]{0,6})?")


def _aware(at: datetime | None, what: str) -> None:
    if at is not None and (at.tzinfo is None or at.utcoffset() is None):
        raise NaiveDatetimeError(f"{what}: naive datetime {at.isoformat()}")


def _plain(row: CaseRow, calls: Sequence[str] = ()) -> Case:
    return Case(
        id=row.id,
        case_no=row.case_no,
        kind=CaseKind(row.kind),
        case_class=row.case_class,
        state=CaseState(row.state),
        number=row.number,
        matter=row.matter,
        owner=row.owner,
        branch=row.branch,
        term=row.term,
        opened_at=row.opened_at,
        deadline=row.deadline,
        escalation=Escalation(row.escalation),
        summary=row.summary,
        updated_at=row.updated_at,
        opened_by=row.opened_by,
        done_at=row.done_at,
        calls=tuple(calls),
    )


@dataclass(frozen=True)
class Escalated:
    """One step of the ladder as the live pages show it."""

    case_no: str
    step: str  # lead | manager
    at: datetime
    owner: str
    case_class: str
    branch: str
    deadline: datetime
    detail: str


@dataclass(frozen=True)
class CaseFilter:
    """What a listing may be narrowed to; `owners` None means anyone's."""

    owners: frozenset[str] | None = None
    states: frozenset[CaseState] | None = None
    case_class: str | None = None
    branch: str | None = None
    kind: CaseKind | None = None
    number: str | None = None  # E.164 prefix
    text: str | None = None  # in the case number or the matter
    opened_from: datetime | None = None
    opened_to: datetime | None = None
    overdue_at: datetime | None = None  # only active cases past their deadline at this instant
    due_before: datetime | None = None  # only active cases due before this instant


class CaseRepo:
    """Reads and writes cases; one transaction per call."""

    def __init__(self, session_factory: sessionmaker[Session]) -> None:
        self._sessions = session_factory

    # --- writes -----------------------------------------------------------------------

    def create(self, new: NewCase, events: list[CaseEvent]) -> Case:
        for value, what in ((new.opened_at, "opened_at"), (new.deadline, "deadline")):
            _aware(value, what)
        with self._sessions.begin() as session:
            serial = self._next_serial(session, new.month)
            row = CaseRow(
                case_no=format_case_no(new.month, serial),
                kind=new.kind.value,
                case_class=new.case_class,
                state=CaseState.OPEN.value,
                number=new.number,
                matter=new.matter,
                owner=new.owner,
                branch=new.branch,
                term=new.term,
                opened_by=new.opened_by,
                opened_at=new.opened_at,
                deadline=new.deadline,
                escalation=new.escalation.value,
                summary=new.summary,
                updated_at=new.opened_at,
            )
            session.add(row)
            session.flush()
            if new.call_uid:
                session.add(
                    CaseCallRow(case_id=row.id, call_uid=new.call_uid, linked_at=new.opened_at)
                )
            for e in events:
                session.add(event_row(row.id, e))
            return _plain(row, [new.call_uid] if new.call_uid else [])

    @staticmethod
    def _next_serial(session: Session, month: str) -> int:
        return next_serial(session, CaseSerialRow, CaseSerialRow.month, CaseSerialRow.last, month)

    def change(
        self,
        case_no: str,
        event: CaseEvent,
        *,
        state: CaseState | None = None,
        escalation: Escalation | None = None,
        summary: str | None = None,
        owner: str | None = None,
        call_uid: str | None = None,
    ) -> Case:
        """Apply one change and its event in one transaction (the row locked). Closing
        cancels the case's open callbacks in the same transaction (`case_ledger`)."""
        _aware(event.at, "at")
        with self._sessions.begin() as session:
            if state is CaseState.CLOSED:
                lock_callbacks(session, case_no)  # the ledger's lock order: callbacks, then case
            row = self._locked(session, case_no)
            if state is not None:
                check_case_transition(CaseState(row.state), state)
                # from where the case is, as locked here: the caller read it before
                event = replace(event, from_state=row.state)
                row.state = state.value
                if state in (CaseState.RESOLVED, CaseState.CLOSED) and row.done_at is None:
                    row.done_at = event.at
                if state is CaseState.REOPENED:
                    row.done_at = None
            if escalation is not None:
                row.escalation = escalation.value
            if summary is not None:
                row.summary = summary
            if owner is not None:
                row.owner = owner
            if call_uid is not None:
                exists = session.get(CaseCallRow, (row.id, call_uid))
                if exists is None:
                    session.add(CaseCallRow(case_id=row.id, call_uid=call_uid, linked_at=event.at))
            row.updated_at = event.at
            session.add(event_row(row.id, event))
            if state is CaseState.CLOSED:
                cancel_callbacks(session, row, event.at, event.who)
            session.flush()
            return _plain(row, self._calls(session, row.id))

    def escalate(self, case_no: str, step: Escalation, event: CaseEvent) -> Case | None:
        """Record one step of the ladder, once: with the row locked, only if the case is
        still active and below `step`; None when another sweep (or process) got there
        first or the case is done meanwhile."""
        _aware(event.at, "at")
        with self._sessions.begin() as session:
            row = self._locked(session, case_no)
            next_step = escalation_steps(Escalation(row.escalation), step) == [step]
            if CaseState(row.state) not in ACTIVE_STATES or not next_step:
                return None
            row.escalation = step.value
            row.updated_at = event.at
            session.add(event_row(row.id, event))
            session.flush()
            return _plain(row, self._calls(session, row.id))

    def escalations(self, since: datetime, owners: frozenset[str] | None = None) -> list[Escalated]:
        """Escalation events recorded since `since` on cases still active (the live board
        and the agent page), newest first; `owners` narrows to those agents' cases."""
        with self._sessions() as session:
            session.connection(execution_options=READ_ONLY)
            q = (
                select(CaseEventRow, CaseRow)
                .join(CaseRow, CaseRow.id == CaseEventRow.case_id)
                .where(
                    CaseEventRow.action == "escalated",
                    CaseEventRow.at >= since,
                    _ACTIVE_WHERE,
                )
            )
            if owners is not None:
                q = q.where(CaseRow.owner.in_(sorted(owners)))
            rows = session.execute(q.order_by(CaseEventRow.id.desc()).limit(200)).all()
            return [
                Escalated(
                    c.case_no,
                    e.detail.partition(":")[0],
                    e.at,
                    c.owner,
                    c.case_class,
                    c.branch,
                    c.deadline,
                    e.detail,
                )
                for e, c in rows
            ]

    @staticmethod
    def _locked(session: Session, case_no: str) -> CaseRow:
        row = session.scalars(
            select(CaseRow).where(CaseRow.case_no == case_no).with_for_update()
        ).first()
        if row is None:
            raise CaseNotFoundError(f"no case {case_no[:20]!r}")
        return row

    # --- reads ------------------------------------------------------------------------

    def get(self, case_no: str) -> Case | None:
        with self._sessions() as session:
            session.connection(execution_options=READ_ONLY)
            row = session.scalars(select(CaseRow).where(CaseRow.case_no == case_no)).first()
            return _plain(row, self._calls(session, row.id)) if row is not None else None

    def events(self, case_no: str) -> list[CaseEvent]:
        with self._sessions() as session:
            session.connection(execution_options=READ_ONLY)
            rows = session.scalars(
                select(CaseEventRow)
                .join(CaseRow, CaseRow.id == CaseEventRow.case_id)
                .where(CaseRow.case_no == case_no)
                .order_by(CaseEventRow.id)
            ).all()
            return [
                CaseEvent(r.at, r.who, r.action, r.from_state, r.to_state, r.detail) for r in rows
            ]

    def by_call(self, uid: str) -> Case | None:
        """The latest case linked to the call."""
        with self._sessions() as session:
            session.connection(execution_options=READ_ONLY)
            row = session.scalars(
                select(CaseRow)
                .join(CaseCallRow, CaseCallRow.case_id == CaseRow.id)
                .where(CaseCallRow.call_uid == uid)
                .order_by(CaseRow.id.desc())
            ).first()
            return _plain(row, self._calls(session, row.id)) if row is not None else None

    def call_info(self, uid: str) -> CallInfo | None:
        with self._sessions() as session:
            session.connection(execution_options=READ_ONLY)
            call = session.scalars(select(Call).where(Call.uid == uid)).first()
            if call is None:
                return None
            return CallInfo(uid, call.caller, call.answered_agent or "", call.branch or "")

    def active_for(self, number: str) -> Case | None:
        """The caller's most recent active case that has an owner."""
        with self._sessions() as session:
            session.connection(execution_options=READ_ONLY)
            row = session.scalars(
                select(CaseRow)
                .where(CaseRow.number == number, _ACTIVE_WHERE, CaseRow.owner != "")
                .order_by(CaseRow.opened_at.desc(), CaseRow.id.desc())
                .limit(1)
            ).first()
            return _plain(row) if row is not None else None

    def escalation_due(self, at: datetime, lead_share: float, limit: int) -> list[Case]:
        """Active cases not yet at the top of the ladder, soonest deadline first (the
        caller decides with the domain which step is due)."""
        with self._sessions() as session:
            session.connection(execution_options=READ_ONLY)
            rows = session.scalars(
                select(CaseRow)
                .where(
                    _ACTIVE_WHERE,
                    CaseRow.escalation != Escalation.MANAGER.value,
                    CaseRow.opened_at <= at,
                )
                .order_by(CaseRow.deadline, CaseRow.id)
                .limit(limit)
            ).all()
            return [_plain(r) for r in rows]

    def search(self, f: CaseFilter, limit: int = 100, offset: int = 0) -> list[Case]:
        """Cases matching `f`, soonest deadline first for active ones, newest first else."""
        with self._sessions() as session:
            session.connection(execution_options=READ_ONLY)
            q = _filtered(select(CaseRow), f, is_sqlite(session))
            if f.overdue_at is not None or f.due_before is not None:
                q = q.order_by(CaseRow.deadline, CaseRow.id)
            else:
                q = q.order_by(CaseRow.opened_at.desc(), CaseRow.id.desc())
            rows = session.scalars(q.limit(limit).offset(offset)).all()
            return [_plain(r) for r in rows]

    def board(self, f: CaseFilter, at: datetime, near: datetime) -> dict[str, Any]:
        """Counts for the supervisors' board: active, overdue and near deadline (due
        before `near`), by class and by branch, over the cases `f` allows."""
        with self._sessions() as session:
            session.connection(execution_options=READ_ONLY)
            active = _ACTIVE_WHERE
            overdue = case((CaseRow.deadline <= at, 1), else_=0)
            soon = case((and_(CaseRow.deadline > at, CaseRow.deadline <= near), 1), else_=0)
            # One pass grouped by (class, branch), summed up both ways here: grouping by
            # one column lets SQLite walk that column's index over every case ever opened.
            q = _filtered(
                select(
                    CaseRow.case_class,
                    CaseRow.branch,
                    func.count(),
                    func.sum(overdue),
                    func.sum(soon),
                ),
                f,
                is_sqlite(session),
            ).where(active)
            rows = session.execute(q.group_by(CaseRow.case_class, CaseRow.branch)).all()
            out: dict[str, dict[str, dict[str, int]]] = {"by_class": {}, "by_branch": {}}
            for cls, branch, n, o, near_n in rows:
                for key, name in (("by_class", str(cls)), ("by_branch", str(branch))):
                    slot = out[key].setdefault(name, {"active": 0, "overdue": 0, "near": 0})
                    slot["active"] += int(n)
                    slot["overdue"] += int(o or 0)
                    slot["near"] += int(near_n or 0)
            return {k: dict(sorted(v.items())) for k, v in out.items()}

    def complaints(
        self, since: datetime, until: datetime, f: CaseFilter | None = None
    ) -> list[Case]:
        """Complaint cases opened in [since, until) (reports)."""
        with self._sessions() as session:
            session.connection(execution_options=READ_ONLY)
            q = _filtered(select(CaseRow), f or CaseFilter(), is_sqlite(session)).where(
                CaseRow.kind == CaseKind.COMPLAINT.value,
                CaseRow.opened_at >= since,
                CaseRow.opened_at < until,
            )
            return [_plain(r) for r in session.scalars(q.order_by(CaseRow.opened_at)).all()]

    @staticmethod
    def _calls(session: Session, case_id: int) -> list[str]:
        return list(
            session.scalars(
                select(CaseCallRow.call_uid)
                .where(CaseCallRow.case_id == case_id)
                .order_by(CaseCallRow.linked_at, CaseCallRow.call_uid)
            ).all()
        )


def _filtered(q: _Q, f: CaseFilter, sqlite: bool = False) -> _Q:
    if f.owners is not None:
        q = q.where(CaseRow.owner.in_(sorted(f.owners)))
    if f.states is not None and f.states == ACTIVE_STATES:
        q = q.where(_ACTIVE_WHERE)
    elif f.states is not None:
        q = q.where(CaseRow.state.in_(sorted(s.value for s in f.states)))
    if f.case_class is not None:
        q = q.where(CaseRow.case_class == f.case_class)
    if f.branch is not None:
        q = q.where(CaseRow.branch == f.branch)
    if f.kind is not None:
        q = q.where(CaseRow.kind == f.kind.value)
    if f.number:
        q = q.where(*starts_with(CaseRow.number, f.number, sqlite))
    if f.text and _CASE_NO_PREFIX.fullmatch(f.text):  # a case number, or its start
        q = q.where(*starts_with(CaseRow.case_no, f.text, sqlite))
    elif f.text:  # a word of the matter
        q = q.where(CaseRow.matter.contains(f.text, autoescape=True))
    if f.opened_from is not None:
        q = q.where(CaseRow.opened_at >= f.opened_from)
    if f.opened_to is not None:
        q = q.where(CaseRow.opened_at < f.opened_to)
    if f.overdue_at is not None:
        q = q.where(_ACTIVE_WHERE, CaseRow.deadline <= f.overdue_at)
    if f.due_before is not None:
        q = q.where(_ACTIVE_WHERE, CaseRow.deadline <= f.due_before)
    return q


def active_states() -> Iterable[str]:
    return _ACTIVE
