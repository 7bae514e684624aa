"""The one way a callback request changes state in the database: checked against the
domain's machine, with its `callback_events` row (the audit trail). Shared by the
ledger (`callbacks.py`) and the cases that cancel their callbacks (`case_ledger.py`)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy.orm import Session

from ivr.adapters.db.models_callbacks import CallbackEventRow, CallbackRequestRow
from ivr.domain.callbacks import CallbackState, check_transition


def move_request(
    session: Session, row: CallbackRequestRow, to: CallbackState, at: datetime, reason: str
) -> None:
    """Change a request's state (checked against the domain's machine) and log it."""
    current = CallbackState(row.state)
    check_transition(current, to)
    row.state, row.updated_at = to.value, at
    session.add(
        CallbackEventRow(
            request_id=row.id, at=at, from_state=current.value, to_state=to.value, reason=reason
        )
    )
