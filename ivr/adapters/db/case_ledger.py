"""Where the callback ledger and the cases meet, inside one transaction.

* A case-born callback (source ``case``, its note the case number) that ends is
  written on its case as an event: who, when, outcome. A completed one moves an
  active case as cases.yaml `callbacks.on_done` says for its rule (the domain's
  `case_after_callback` decides).
* A case that closes cancels its callbacks still open (a connected call excepted:
  it completes), each as a ledger event.

Both run in the transaction of the change that caused them, with the case row and
the callback rows locked, so a crash never leaves one side done and the other not.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

from sqlalchemy import Select, select
from sqlalchemy.orm import Session

from ivr.adapters.db.ledger_moves import move_request
from ivr.adapters.db.models_callbacks import CallbackRequestRow
from ivr.adapters.db.models_cases import CaseEventRow, CaseRow
from ivr.domain.callbacks import CANCELLABLE_STATES, FINAL_STATES, CallbackState
from ivr.domain.cases import (
    CASE_SOURCE,
    DONE_STATES,
    CaseEvent,
    CaseState,
    callback_rule,
    case_after_callback,
    check_case_transition,
)

_CANCELLABLE = sorted(s.value for s in CANCELLABLE_STATES)


class CaseLedger:
    """The case side of a callback's end. `on_done`: rule -> the state an active case
    moves to when that callback is completed (cases.yaml `callbacks.on_done`)."""

    def __init__(self, on_done: Mapping[str, CaseState] | None = None) -> None:
        self.on_done = dict(on_done or {})

    def callback_ended(
        self, session: Session, row: CallbackRequestRow, at: datetime, who: str, outcome: str
    ) -> None:
        """`row` has just reached a final state: write it on its case (if it has one)."""
        state = CallbackState(row.state)
        if row.source != CASE_SOURCE or not row.note or state not in FINAL_STATES:
            return
        case = session.scalars(
            select(CaseRow).where(CaseRow.case_no == row.note).with_for_update()
        ).first()
        if case is None:
            return
        done = state is CallbackState.COMPLETED
        detail = f"#{row.id} {row.matter}: {state.value}" + (f" ({outcome})" if outcome else "")
        add_event(session, case, at, who, "callback_done" if done else "callback_ended", detail)
        target = case_after_callback(
            CaseState(case.state), done, self.on_done.get(callback_rule(row.matter))
        )
        if target is not None:
            set_state(session, case, target, at, who, f"callback #{row.id} {state.value}")


def set_state(
    session: Session, case: CaseRow, to: CaseState, at: datetime, who: str, note: str
) -> None:
    """Move a locked case row (checked), with its event; closing cancels its callbacks
    (the config never lets a callback close its case: `ON_DONE_STATES`)."""
    current = CaseState(case.state)
    check_case_transition(current, to)
    case.state = to.value
    if to in DONE_STATES and case.done_at is None:
        case.done_at = at
    if to is CaseState.REOPENED:
        case.done_at = None
    add_event(session, case, at, who, "state", note, current.value, to.value)
    if to is CaseState.CLOSED:
        cancel_callbacks(session, case, at, who)


def add_event(
    session: Session,
    case: CaseRow,
    at: datetime,
    who: str,
    action: str,
    detail: str,
    from_state: str | None = None,
    to_state: str | None = None,
) -> None:
    case.updated_at = at
    session.add(event_row(case.id, CaseEvent(at, who, action, from_state, to_state, detail)))


def event_row(case_id: int, e: CaseEvent) -> CaseEventRow:
    """The row of one case event (every writer of case events builds it here)."""
    return CaseEventRow(
        case_id=case_id,
        at=e.at,
        who=e.who,
        action=e.action,
        from_state=e.from_state,
        to_state=e.to_state,
        detail=e.detail,
    )


def lock_callbacks(session: Session, case_no: str) -> None:
    """Lock the case's open callbacks before its row: the ledger locks a callback and
    then its case, so a closing case takes them in the same order (no deadlock)."""
    session.scalars(_cancellable(case_no).with_for_update()).all()


def _cancellable(case_no: str) -> Select[Any]:
    return (
        select(CallbackRequestRow)
        .where(
            CallbackRequestRow.source == CASE_SOURCE,
            CallbackRequestRow.note == case_no,
            CallbackRequestRow.state.in_(_CANCELLABLE),
        )
        .order_by(CallbackRequestRow.id)
    )


def cancel_callbacks(session: Session, case: CaseRow, at: datetime, who: str) -> list[int]:
    """Cancel the closed case's callbacks still open (ledger events), and say so on the case."""
    rows: list[CallbackRequestRow] = list(
        session.scalars(_cancellable(case.case_no).with_for_update()).all()
    )
    for r in rows:
        why = f"case {case.case_no} closed by {who}"
        move_request(session, r, CallbackState.CANCELLED, at, why)
        r.due_at = None
    if rows:
        ids = ", ".join(f"#{r.id}" for r in rows)
        add_event(session, case, at, who, "callback_cancelled", f"case closed: {ids}")
    return [r.id for r in rows]
