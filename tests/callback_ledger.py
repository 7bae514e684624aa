"""A callback ledger that keeps what it is given: CallbackIntake's port, in memory."""

from __future__ import annotations

from datetime import datetime

from ivr.app.callbacks import Added, NewRequest
from ivr.domain.callbacks import CallbackRequest, CallbackState


class RecordingLedger:
    """Adds every request (scheduled, new), and keeps them in `added`."""

    def __init__(self) -> None:
        self.added: list[NewRequest] = []

    def add(self, new: NewRequest, at: datetime) -> Added:
        self.added.append(new)
        req = CallbackRequest(
            id=len(self.added), number=new.number, matter=new.matter,
            state=CallbackState.SCHEDULED, language=new.language, branch=new.branch,
            source=new.source, arrived_at=new.arrived_at, due_at=new.due_at,
            deadline=new.deadline, expires_at=new.expires_at, attempts=0, tz=new.tz,
            created_at=at, updated_at=at,
        )  # fmt: skip
        return Added(req, True)
