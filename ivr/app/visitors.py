"""Visitor files as use cases: check a guest in (a file numbered by the check-in day)
and out (the visitor's next-day callback in the ledger, REQUIREMENTS §5).

The callback's matter is `<visitor rule>:<file number>` ("visitor:20261123-0001"), its
source `visitor`, its note the file number: the callback rate per rule counts it.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Protocol

from ivr.app.callbacks import CallbackRefusedError
from ivr.app.cases import CaseCallbacks, CaseInput, CaseInputError
from ivr.app.ports import Clock
from ivr.domain.calendar import Calendar
from ivr.domain.callbacks import CallbackRequest
from ivr.domain.routing import normalise_number
from ivr.domain.visitors import Visitor, VisitorError, VisitorNumberError, parse_visitor_no

MAX_NAME = 100
MAX_NOTE = 500
PAST_DAYS = 366  # a check-in entered late: at most this many days back
SOURCE = "visitor"


class VisitorNotFoundError(VisitorError, LookupError):
    """No visitor file with that number."""


class VisitorInputError(CaseInputError):
    """A value out of its range; the message names the item (as the cases' errors do)."""


@dataclass(frozen=True)
class NewVisitor:
    check_in: date
    number: str
    name: str
    note: str
    created_by: str
    created_at: datetime


class VisitorStore(Protocol):
    def create(self, new: NewVisitor) -> Visitor: ...
    def get(self, file_no: str) -> Visitor | None: ...
    def check_out(self, file_no: str, day: date, at: datetime) -> Visitor | None: ...


@dataclass(frozen=True)
class CheckedOut:
    visitor: Visitor
    callback: CallbackRequest | None
    refused: str = ""  # why the ledger refused the callback (do-not-call, no hours)


@dataclass(frozen=True)
class VisitorService:
    store: VisitorStore
    calendar: Calendar
    clock: Clock
    callbacks: CaseCallbacks | None = None
    rule: str | None = "visitor"  # cases.yaml callbacks.visitor (a next_day rule)
    canonical: Callable[[str], str] = normalise_number

    def check_in(
        self, number: str, *, by: str, name: str = "", day: date | None = None, note: str = ""
    ) -> Visitor:
        """Open the guest's file, numbered by the check-in day (today in the hotline's
        zone unless given: a file may be entered after the guest arrived)."""
        now = self.clock()
        today = self.calendar.local(now).date()
        check_in = day or today
        if check_in > today:
            raise VisitorInputError(
                "check_in", CaseInput.AFTER_TODAY, subject=str(check_in), day=today
            )
        if check_in < today - timedelta(days=PAST_DAYS):
            raise VisitorInputError("check_in", CaseInput.TOO_LONG_AGO, limit=PAST_DAYS)
        return self.store.create(
            NewVisitor(
                check_in=check_in,
                number=self._number(number),
                name=_text("name", name, MAX_NAME),
                note=_text("note", note, MAX_NOTE),
                created_by=by,
                created_at=now,
            )
        )

    def check_out(self, file_no: str, *, by: str) -> CheckedOut:
        """The guest left today: the file is closed and the visitor's callback booked for
        the day after (the ledger's next_day rule, in the customer's calling hours)."""
        visitor = self.get(file_no)
        now = self.clock()
        if visitor.check_out is not None:
            raise VisitorInputError(
                "file", CaseInput.CHECKED_OUT, subject=visitor.file_no, day=visitor.check_out
            )
        out = self.store.check_out(visitor.file_no, self.calendar.local(now).date(), now)
        if out is None:  # another check-out got there first
            raise VisitorInputError("file", CaseInput.ALREADY_CHECKED_OUT, subject=visitor.file_no)
        if self.callbacks is None or not self.rule:
            return CheckedOut(out, None)
        try:
            added = self.callbacks.request(
                out.number,
                f"{self.rule}:{out.file_no}",
                source=SOURCE,
                event_at=now,
                note=f"{out.file_no} by {by}",
            )
        except (CallbackRefusedError, ValueError) as e:
            return CheckedOut(out, None, str(e))
        return CheckedOut(out, added.request)

    def get(self, file_no: str) -> Visitor:
        try:
            parse_visitor_no(file_no)
        except VisitorNumberError as e:
            raise VisitorInputError("file", CaseInput.NOT_A_FILE_NO, cause=e) from None
        found = self.store.get(file_no.strip())
        if found is None:
            raise VisitorNotFoundError(f"no visitor file {file_no[:20]!r}")
        return found

    def _number(self, number: str) -> str:
        if not number:
            raise VisitorInputError("number", CaseInput.MISSING)
        try:
            return self.canonical(number)
        except ValueError as e:
            raise VisitorInputError("number", CaseInput.BAD_NUMBER, cause=e) from None


def _text(item: str, value: str, most: int) -> str:
    v = value.strip()
    if len(v) > most:
        raise VisitorInputError(item, CaseInput.TOO_LONG, count=len(v), limit=most)
    if not v.isprintable():
        raise VisitorInputError(item, CaseInput.CONTROL_CHARACTERS)
    return v
