"""Visitor files (访客档案): a guest's record, numbered by check-in date and serial
(REQUIREMENTS §4: "visitor files use check-in date + serial"), and the check-out that
books the visitor's next-day callback (§5).

A file number is `YYYYMMDD-NNNN`: the guest's check-in day in the hotline's time zone
(the day they arrived, which may be before the day the file is entered) and a serial
per check-in day from 1 (the repository allocates it atomically). Pure: days and
instants are arguments.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date, datetime


class VisitorError(Exception):
    """Base of the visitor files' errors."""


class VisitorNumberError(VisitorError, ValueError):
    """Not a visitor file number of the form YYYYMMDD-NNNN."""


VISITOR_NO = re.compile(r"([0-9]{8})-([0-9]{4,6})")  # ASCII digits only


def format_visitor_no(check_in: date, serial: int) -> str:
    """`YYYYMMDD-NNNN`: four digits at least (a day past 9,999 arrivals gets five).

    >>> format_visitor_no(date(2026, 11, 23), 7)
    '20261123-0007'
    """
    if serial < 1:
        raise VisitorNumberError(f"serial {serial}")
    return f"{check_in:%Y%m%d}-{serial:04d}"


def parse_visitor_no(text: str) -> tuple[date, int]:
    """(check-in day, serial) of a visitor file number; VisitorNumberError when it is none.

    >>> parse_visitor_no("20261123-0042")
    (datetime.date(2026, 11, 23), 42)
    """
    m = VISITOR_NO.fullmatch(text.strip()) if len(text) <= 20 else None
    if m is None:
        raise VisitorNumberError("not of the form YYYYMMDD-NNNN")
    d = m.group(1)
    try:
        day = date(int(d[:4]), int(d[4:6]), int(d[6:]))
    except ValueError:
        raise VisitorNumberError(f"{d} is not a calendar day") from None
    return day, int(m.group(2))


def serial_key(check_in: date) -> str:
    """The key of the per-day serial counter.

    >>> serial_key(date(2026, 1, 5))
    '20260105'
    """
    return f"{check_in:%Y%m%d}"


@dataclass(frozen=True)
class Visitor:
    """A visitor file as the repository holds it (plain data; instants aware)."""

    id: int
    file_no: str
    number: str
    name: str
    check_in: date
    check_out: date | None
    created_at: datetime
    created_by: str
    checked_out_at: datetime | None = None
    note: str = ""
