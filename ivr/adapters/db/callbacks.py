"""The callback ledger in the database: requests, claims, attempts, history.

Guarantees, each carried by the database rather than by one process's memory:

* **No duplicate requests.** `add` is ``INSERT .. ON CONFLICT DO NOTHING``
  against the partial unique index on (number, matter) over open states and
  the unique `source_uid`; a second request for the same open matter returns
  the first one.
* **No double dial.** `claim_due` selects the due batch and, in the same
  transaction, moves each chosen request to ``dialing`` with a guarded
  ``UPDATE .. WHERE state IN (scheduled, retry)`` and inserts its attempt row
  (with the AMI ActionID) before any call is placed. PostgreSQL locks the batch
  ``FOR UPDATE SKIP LOCKED`` so two dialers take different rows; SQLite's
  ``BEGIN IMMEDIATE`` serialises the claimers.
* **Idempotent results.** An attempt's outcome is written once (``WHERE
  outcome IS NULL``); a replayed AMI event changes nothing. A request that
  reached ``connected`` only ever completes: it is never dialled again.

Every state change writes a `callback_events` row (the audit trail). A callback
that follows from a case and ends (completed, failed, expired, cancelled) is written
on its case in the same transaction (`case_ledger.CaseLedger`).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import exists, func, select, text, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session, sessionmaker

from ivr import phone
from ivr.adapters.db.case_ledger import CaseLedger
from ivr.adapters.db.engine import READ_ONLY, DbError
from ivr.adapters.db.filters import is_sqlite, starts_with
from ivr.adapters.db.ledger_moves import move_request as _move
from ivr.adapters.db.models import Call, NaiveDatetimeError, RoutingDecision
from ivr.adapters.db.models_callbacks import (
    DUE_SQL,
    CallbackAttemptRow,
    CallbackEventRow,
    CallbackRequestRow,
)
from ivr.app.callbacks import Added, NewRequest
from ivr.domain.callbacks import (
    BY_HAND_STATES,
    CANCELLABLE_STATES,
    COUNTED_OUTCOMES,
    DUE_STATES,
    IN_FLIGHT_STATES,
    OPEN_STATES,
    AttemptOutcome,
    CallbackRequest,
    CallbackState,
    Chooser,
    ClaimDecision,
    Close,
    Defer,
    Dial,
    Planner,
    RateItem,
    Skip,
    check_transition,
)
from ivr.domain.cases import CASE_SOURCE
from ivr.domain.routing import WAITING_ROUTE_KINDS

S = CallbackState
_DUE = sorted(s.value for s in DUE_STATES)
_OPEN = sorted(s.value for s in OPEN_STATES)


class CallbackNotFoundError(DbError, LookupError):
    """No callback request with that id."""


class CallbackClosedError(DbError, ValueError):
    """The request is no longer in a state that allows the change."""


# --------------------------------------------------------------------------- plain data


@dataclass(frozen=True)
class AttemptRecord:
    id: int
    request_id: int
    seq: int
    action_id: str
    dialer: str
    seat: str
    agent_id: str
    started_at: datetime
    sent_at: datetime | None
    connected_at: datetime | None
    ended_at: datetime | None
    outcome: str | None
    counted: bool
    dial_status: str
    detail: str


@dataclass(frozen=True)
class EventRecord:
    at: datetime
    from_state: str | None
    to_state: str
    reason: str


@dataclass(frozen=True)
class Claim:
    request: CallbackRequest
    attempt: AttemptRecord


@dataclass(frozen=True)
class CallSource:
    """A call in the call log that asks for a callback (key 9, overflow, voicemail...)."""

    uid: str
    caller: str
    started_at: datetime
    route_kind: str
    outcome: str
    branch: str
    language: str
    wait_seconds: float | None


# --------------------------------------------------------------------------- helpers


def _require_aware(at: datetime | None, what: str) -> None:
    if at is not None and (at.tzinfo is None or at.utcoffset() is None):
        raise NaiveDatetimeError(f"{what}: naive datetime {at.isoformat()}")


def _plain(row: CallbackRequestRow) -> CallbackRequest:
    return CallbackRequest(
        id=row.id,
        number=row.number,
        matter=row.matter,
        state=CallbackState(row.state),
        language=row.language,
        branch=row.branch,
        source=row.source,
        arrived_at=row.arrived_at,
        due_at=row.due_at,
        deadline=row.deadline,
        expires_at=row.expires_at,
        attempts=row.attempts,
        tz=row.tz,
        created_at=row.created_at,
        updated_at=row.updated_at,
        completed_at=row.completed_at,
        last_outcome=row.last_outcome,
        source_uid=row.source_uid,
        note=row.note,
    )


def _attempt(row: CallbackAttemptRow) -> AttemptRecord:
    return AttemptRecord(
        row.id,
        row.request_id,
        row.seq,
        row.action_id,
        row.dialer,
        row.seat,
        row.agent_id,
        row.started_at,
        row.sent_at,
        row.connected_at,
        row.ended_at,
        row.outcome,
        row.counted,
        row.dial_status,
        row.detail,
    )


def _insert(session: Session) -> Any:
    return postgresql.insert if session.get_bind().dialect.name == "postgresql" else sqlite.insert


# --------------------------------------------------------------------------- repository


class CallbackRepo:
    """Reads and writes the callback ledger; one transaction per call."""

    def __init__(
        self,
        session_factory: sessionmaker[Session],
        region: str | None = None,
        cases: CaseLedger | None = None,
    ) -> None:
        self._sessions = session_factory
        self._region = region  # numbers are kept in E.164; national ones are of this region
        self._cases = cases or CaseLedger()  # events on the case; no moves unless configured

    def _ended(
        self, session: Session, row: CallbackRequestRow, at: datetime, who: str, outcome: str
    ) -> None:
        """After a move: a request that reached a final state tells its case."""
        self._cases.callback_ended(session, row, at, who, outcome)

    # --- requests ----------------------------------------------------------------

    def add(self, new: NewRequest, at: datetime) -> Added:
        """Open a request, or return the open one for the same number and matter
        (or the one already made from the same call)."""
        for value, what in ((at, "at"), (new.arrived_at, "arrived_at"), (new.due_at, "due_at")):
            _require_aware(value, what)
        number = phone.match_key(new.number, self._region)
        if not number.lstrip("+"):
            raise ValueError(f"callback number {new.number!r} has no digits")
        state = S.SCHEDULED if new.due_at is not None else S.REQUESTED
        with self._sessions.begin() as session:
            stmt = (
                _insert(session)(CallbackRequestRow.__table__)
                .values(
                    number=number,
                    matter=new.matter,
                    state=state.value,
                    language=new.language,
                    branch=new.branch,
                    source=new.source,
                    source_uid=new.source_uid,
                    tz=new.tz,
                    arrived_at=new.arrived_at,
                    due_at=new.due_at,
                    deadline=new.deadline,
                    expires_at=new.expires_at,
                    note=new.note,
                    created_at=at,
                    updated_at=at,
                )
                .on_conflict_do_nothing()
                .returning(CallbackRequestRow.__table__.c.id)
            )
            new_id = session.execute(stmt).scalar()
            if new_id is None:
                return Added(_plain(self._existing(session, number, new)), created=False)
            reason = f"{new.source}: {new.note}".rstrip(": ")
            session.add(
                CallbackEventRow(request_id=new_id, at=at, to_state=S.REQUESTED, reason=reason)
            )
            if state is S.SCHEDULED:
                session.add(
                    CallbackEventRow(
                        request_id=new_id,
                        at=at,
                        from_state=S.REQUESTED.value,
                        to_state=S.SCHEDULED.value,
                        reason=f"due {new.due_at:%Y-%m-%d %H:%M %Z}",
                    )
                )
            row = session.get(CallbackRequestRow, new_id)
            assert row is not None
            return Added(_plain(row), created=True)

    @staticmethod
    def _existing(session: Session, number: str, new: NewRequest) -> CallbackRequestRow:
        if new.source_uid is not None:
            by_call = session.scalars(
                select(CallbackRequestRow).where(CallbackRequestRow.source_uid == new.source_uid)
            ).first()
            if by_call is not None:
                return by_call
        row = session.scalars(
            select(CallbackRequestRow).where(
                CallbackRequestRow.number == number,
                CallbackRequestRow.matter == new.matter,
                CallbackRequestRow.state.in_(_OPEN),
            )
        ).first()
        if row is None:  # the conflicting request closed in between: very unlikely
            raise DbError(f"callback for {number} / {new.matter} conflicted but is not found")
        return row

    def get(self, request_id: int) -> CallbackRequest | None:
        with self._sessions() as session:
            session.connection(execution_options=READ_ONLY)
            row = session.get(CallbackRequestRow, request_id)
            return _plain(row) if row is not None else None

    def listing(
        self, states: Iterable[CallbackState] | None = None, limit: int = 1000
    ) -> list[CallbackRequest]:
        """Requests in `states` (default: open ones), soonest due first."""
        wanted = sorted(s.value for s in (states if states is not None else OPEN_STATES))
        with self._sessions() as session:
            session.connection(execution_options=READ_ONLY)
            rows = session.scalars(
                select(CallbackRequestRow)
                .where(CallbackRequestRow.state.in_(wanted))
                .order_by(
                    CallbackRequestRow.due_at.is_(None),
                    CallbackRequestRow.due_at,
                    CallbackRequestRow.arrived_at,
                    CallbackRequestRow.id,
                )
                .limit(limit)
            ).all()
            return [_plain(r) for r in rows]

    def for_case(self, case_no: str) -> list[CallbackRequest]:
        """Every callback that follows from the case (any state), oldest first."""
        with self._sessions() as session:
            session.connection(execution_options=READ_ONLY)
            rows = session.scalars(
                select(CallbackRequestRow)
                .where(
                    CallbackRequestRow.source == CASE_SOURCE,
                    CallbackRequestRow.note == case_no,
                )
                .order_by(CallbackRequestRow.id)
            ).all()
            return [_plain(r) for r in rows]

    def cancel(
        self, request_id: int, at: datetime, reason: str = "cancelled", who: str = "system"
    ) -> CallbackRequest:
        """Cancel an open request. A call already connected cannot be cancelled."""
        _require_aware(at, "at")
        with self._sessions.begin() as session:
            row = self._locked(session, request_id)
            if CallbackState(row.state) not in CANCELLABLE_STATES:
                raise CallbackClosedError(
                    f"callback {request_id} is {row.state}: it can no longer be cancelled"
                )
            _move(session, row, S.CANCELLED, at, reason)
            row.due_at = None
            self._ended(session, row, at, who, reason)
            return _plain(row)

    def complete(
        self, request_id: int, at: datetime, who: str, outcome: str = ""
    ) -> CallbackRequest:
        """An agent reached the customer by hand: the request is completed (it counts as
        done at `at` for the callback rate) and its case, if any, is told."""
        _require_aware(at, "at")
        if not who:
            raise ValueError("who marked the callback done is missing")
        with self._sessions.begin() as session:
            row = self._locked(session, request_id)
            if CallbackState(row.state) not in BY_HAND_STATES:
                raise CallbackClosedError(
                    f"callback {request_id} is {row.state}: it cannot be marked done by hand"
                )
            reason = f"done by {who}" + (f": {outcome}" if outcome else "")
            _move(session, row, S.COMPLETED, at, reason)
            row.due_at, row.completed_at = None, at
            row.last_outcome = AttemptOutcome.ANSWERED.value
            self._ended(session, row, at, who, outcome or "done by hand")
            return _plain(row)

    def schedule(self, request_id: int, due_at: datetime, at: datetime, reason: str) -> None:
        _require_aware(due_at, "due_at")
        with self._sessions.begin() as session:
            row = self._locked(session, request_id)
            _move(session, row, S.SCHEDULED, at, reason)
            row.due_at = due_at

    @staticmethod
    def _locked(session: Session, request_id: int) -> CallbackRequestRow:
        row = session.scalars(
            select(CallbackRequestRow).where(CallbackRequestRow.id == request_id).with_for_update()
        ).first()
        if row is None:
            raise CallbackNotFoundError(f"no callback request {request_id}")
        return row

    # --- the dialer's side ----------------------------------------------------------

    @staticmethod
    def _due_query(at: datetime, limit: int) -> Any:
        # The literal predicate lets SQLite use the partial dial-order index: the batch
        # is the first `limit` entries of one index range, however many are due.
        return (
            select(CallbackRequestRow)
            .where(text(DUE_SQL), CallbackRequestRow.due_at <= at)
            .order_by(
                CallbackRequestRow.due_at, CallbackRequestRow.arrived_at, CallbackRequestRow.id
            )
            .limit(limit)
        )

    def due(self, at: datetime, limit: int) -> list[CallbackRequest]:
        """The due batch in dial order (`dial_order`: due first, then first arrived),
        without claiming it."""
        with self._sessions() as session:
            session.connection(execution_options=READ_ONLY)
            return [_plain(r) for r in session.scalars(self._due_query(at, limit)).all()]

    def claim_due(
        self, at: datetime, limit: int, dialer: str, choose: Chooser, *, max_dials: int
    ) -> list[Claim]:
        """Look at up to `limit` due requests in dial order and, in one transaction,
        apply what `choose` decides for each: claim it for dialling (at most
        `max_dials`), defer it, close it, or leave it.

        `choose` runs inside the transaction: it must be quick and pure.
        """
        _require_aware(at, "at")
        claims: list[Claim] = []
        with self._sessions.begin() as session:
            query = self._due_query(at, limit)
            if session.get_bind().dialect.name == "postgresql":
                query = query.with_for_update(skip_locked=True)
            for row in session.scalars(query).all():
                if len(claims) >= max_dials:
                    break
                decision = choose(_plain(row))
                if isinstance(decision, Dial):
                    claim = self._claim(session, row, at, dialer, decision)
                    if claim is not None:
                        claims.append(claim)
                elif isinstance(decision, Defer):
                    _move(session, row, S.SCHEDULED, at, decision.reason)
                    row.due_at = decision.due_at
                elif isinstance(decision, Close):
                    _move(session, row, decision.state, at, decision.reason)
                    row.due_at = None
                    self._ended(session, row, at, dialer, decision.reason)
        return claims

    @staticmethod
    def _claim(
        session: Session, row: CallbackRequestRow, at: datetime, dialer: str, dial: Dial
    ) -> Claim | None:
        previous = row.state
        guarded = session.execute(
            update(CallbackRequestRow)
            .where(CallbackRequestRow.id == row.id, CallbackRequestRow.state.in_(_DUE))
            .values(state=S.DIALING.value, updated_at=at)
            .execution_options(synchronize_session=False)
        )
        if guarded.rowcount != 1:  # type: ignore[attr-defined]
            return None  # someone else claimed it
        check_transition(CallbackState(previous), S.DIALING)
        seq = (
            session.scalar(
                select(func.coalesce(func.max(CallbackAttemptRow.seq), 0)).where(
                    CallbackAttemptRow.request_id == row.id
                )
            )
            or 0
        ) + 1
        attempt = CallbackAttemptRow(
            request_id=row.id,
            seq=seq,
            action_id=f"hotline-cb-{row.id}-{seq}",
            dialer=dialer,
            seat=dial.seat,
            agent_id=dial.agent_id,
            started_at=at,
        )
        session.add(attempt)
        session.add(
            CallbackEventRow(
                request_id=row.id,
                at=at,
                from_state=previous,
                to_state=S.DIALING.value,
                reason=f"attempt {seq} via {dial.seat}",
            )
        )
        session.flush()
        session.refresh(row)
        return Claim(_plain(row), _attempt(attempt))

    def mark_sent(self, action_id: str, at: datetime) -> None:
        """Asterisk accepted the Originate: from now on a channel may exist."""
        with self._sessions.begin() as session:
            session.execute(
                update(CallbackAttemptRow)
                .where(CallbackAttemptRow.action_id == action_id)
                .values(sent_at=at)
                .execution_options(synchronize_session=False)
            )

    def waiting_callers(self, since: datetime) -> list[tuple[str, datetime]]:
        """(branch, arrival) of callers routed to a queue or seat since `since`, still
        waiting: not answered and not ended. Read from the call log."""
        with self._sessions() as session:
            session.connection(execution_options=READ_ONLY)
            rows = session.execute(
                select(Call.branch, Call.started_at).where(
                    Call.started_at >= since,
                    Call.outcome == "in_progress",
                    Call.route_kind.in_(WAITING_ROUTE_KINDS),
                    Call.answered_at.is_(None),
                    Call.ended_at.is_(None),
                )
            ).all()
            return [(branch or "", started) for branch, started in rows]

    def mark_connected(self, action_id: str, at: datetime) -> bool:
        """The customer answered: dialing -> connected. False when already known."""
        with self._sessions.begin() as session:
            attempt = self._attempt_by_action(session, action_id)
            if attempt is None or attempt.connected_at is not None:
                return False
            attempt.connected_at = at
            row = self._locked(session, attempt.request_id)
            if row.state == S.DIALING and attempt.outcome is None:
                _move(session, row, S.CONNECTED, at, f"attempt {attempt.seq}: customer answered")
            return True

    def finish_attempt(
        self,
        action_id: str,
        outcome: AttemptOutcome,
        at: datetime,
        planner: Planner,
        *,
        dial_status: str = "",
        detail: str = "",
    ) -> CallbackRequest | None:
        """Record how an attempt ended and move its request on; once only.

        A request that was connected completes whatever the reported outcome:
        it must never be dialled again. Returns None when the attempt was
        already finished (a replayed event) or is unknown.
        """
        _require_aware(at, "at")
        with self._sessions.begin() as session:
            attempt = self._attempt_by_action(session, action_id)
            if attempt is None or attempt.outcome is not None:
                return None
            row = self._locked(session, attempt.request_id)
            if attempt.connected_at is not None or row.state == S.CONNECTED:
                outcome = AttemptOutcome.ANSWERED
            counted = outcome in COUNTED_OUTCOMES
            attempt.outcome, attempt.ended_at, attempt.counted = outcome.value, at, counted
            attempt.dial_status, attempt.detail = dial_status, detail
            if row.state not in {s.value for s in IN_FLIGHT_STATES}:
                return _plain(row)  # cancelled meanwhile: the attempt is recorded, no move
            made = row.attempts + (1 if counted else 0)
            plan = planner(_plain(row), outcome, made)
            row.attempts, row.last_outcome = made, outcome.value
            _move(session, row, plan.state, at, f"attempt {attempt.seq}: {plan.reason}")
            row.due_at = plan.due_at
            if plan.state is S.COMPLETED:
                row.completed_at = attempt.connected_at or at
            self._ended(session, row, at, attempt.agent_id or attempt.dialer, plan.reason)
            return _plain(row)

    @staticmethod
    def _attempt_by_action(session: Session, action_id: str) -> CallbackAttemptRow | None:
        return session.scalars(
            select(CallbackAttemptRow)
            .where(CallbackAttemptRow.action_id == action_id)
            .with_for_update()
        ).first()

    def open_attempts(self) -> list[tuple[AttemptRecord, CallbackRequest]]:
        """Attempts without an outcome (in flight, or left so by a stopped dialer)."""
        with self._sessions() as session:
            session.connection(execution_options=READ_ONLY)
            rows = session.execute(
                select(CallbackAttemptRow, CallbackRequestRow)
                .join(CallbackRequestRow, CallbackRequestRow.id == CallbackAttemptRow.request_id)
                .where(CallbackAttemptRow.outcome.is_(None))
                .order_by(CallbackAttemptRow.id)
            ).all()
            return [(_attempt(a), _plain(r)) for a, r in rows]

    def attempts(self, request_id: int) -> list[AttemptRecord]:
        with self._sessions() as session:
            session.connection(execution_options=READ_ONLY)
            rows = session.scalars(
                select(CallbackAttemptRow)
                .where(CallbackAttemptRow.request_id == request_id)
                .order_by(CallbackAttemptRow.seq)
            ).all()
            return [_attempt(r) for r in rows]

    def history(self, request_id: int) -> list[EventRecord]:
        with self._sessions() as session:
            session.connection(execution_options=READ_ONLY)
            rows = session.scalars(
                select(CallbackEventRow)
                .where(CallbackEventRow.request_id == request_id)
                .order_by(CallbackEventRow.id)
            ).all()
            return [EventRecord(r.at, r.from_state, r.to_state, r.reason) for r in rows]

    def expire_overdue(self, at: datetime) -> int:
        """Requests past their expiry that are not in flight: expired. Returns how many."""
        with self._sessions.begin() as session:
            rows = session.scalars(
                select(CallbackRequestRow)
                .where(
                    CallbackRequestRow.state.in_(
                        [S.REQUESTED.value, S.SCHEDULED.value, S.RETRY.value]
                    ),
                    CallbackRequestRow.expires_at <= at,
                )
                .with_for_update()
            ).all()
            for row in rows:
                _move(session, row, S.EXPIRED, at, "expired before it could be completed")
                row.due_at = None
                self._ended(session, row, at, "system", "expired")
            return len(rows)

    # --- reports ---------------------------------------------------------------------

    def rate_items(
        self, matter_prefix: str, since: datetime, until: datetime | None = None
    ) -> list[RateItem]:
        """What the callback rate of one rule is computed from: the requests made in
        [since, until) (until: none, every request made since)."""
        bounds = [CallbackRequestRow.created_at >= since]
        if until is not None:
            bounds.append(CallbackRequestRow.created_at < until)
        with self._sessions() as session:
            session.connection(execution_options=READ_ONLY)
            rows = session.execute(
                select(
                    CallbackRequestRow.state,
                    CallbackRequestRow.deadline,
                    CallbackRequestRow.completed_at,
                ).where(
                    *starts_with(
                        CallbackRequestRow.matter, f"{matter_prefix}:", is_sqlite(session)
                    ),
                    *bounds,
                )
            ).all()
            return [RateItem(CallbackState(s), d, c) for s, d, c in rows]

    def count_by_state(self) -> dict[str, int]:
        with self._sessions() as session:
            session.connection(execution_options=READ_ONLY)
            rows = session.execute(
                select(CallbackRequestRow.state, func.count()).group_by(CallbackRequestRow.state)
            ).all()
            return {state: int(n) for state, n in rows}

    # --- intake from the call log ----------------------------------------------------

    def calls_wanting_callback(
        self, since: datetime, kinds: Sequence[str], outcomes: Sequence[str], limit: int = 500
    ) -> list[CallSource]:
        """Calls since `since` routed to one of `kinds` (e.g. callback) or ended with one
        of `outcomes` (voicemail, abandoned_waiting) that have no request yet."""
        already = exists().where(CallbackRequestRow.source_uid == Call.uid)
        with self._sessions() as session:
            session.connection(execution_options=READ_ONLY)
            rows = session.execute(
                select(Call, RoutingDecision.language, RoutingDecision.branch)
                .outerjoin(RoutingDecision, RoutingDecision.call_id == Call.id)
                .where(
                    Call.started_at >= since,
                    Call.caller != "",
                    (Call.route_kind.in_(list(kinds)) | Call.outcome.in_(list(outcomes))),
                    ~already,
                )
                .order_by(Call.started_at)
                .limit(limit)
            ).all()
            return [
                CallSource(
                    c.uid,
                    c.caller,
                    c.started_at,
                    c.route_kind or "",
                    c.outcome,
                    branch or c.branch or "",
                    lang or c.language or "",
                    c.wait_seconds,
                )
                for c, lang, branch in rows
            ]


__all__ = [
    "Added",
    "AttemptRecord",
    "CallSource",
    "CallbackClosedError",
    "CallbackNotFoundError",
    "CallbackRepo",
    "Claim",
    "ClaimDecision",
    "Close",
    "Defer",
    "Dial",
    "EventRecord",
    "NewRequest",
    "Skip",
]
