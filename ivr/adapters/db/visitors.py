"""Visitor files in the database: numbers by check-in day, unique under concurrent
writers (`serials.next_serial` in the inserting transaction, ``uq_visitor_files_file_no``
the last line of defence), and the guarded check-out."""

from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import select, update
from sqlalchemy.orm import Session, sessionmaker

from ivr.adapters.db.engine import READ_ONLY
from ivr.adapters.db.models import NaiveDatetimeError
from ivr.adapters.db.models_visitors import VisitorRow, VisitorSerialRow
from ivr.adapters.db.serials import next_serial
from ivr.app.visitors import NewVisitor
from ivr.domain.visitors import Visitor, format_visitor_no, serial_key


def _plain(row: VisitorRow) -> Visitor:
    return Visitor(
        id=row.id,
        file_no=row.file_no,
        number=row.number,
        name=row.name,
        check_in=row.check_in,
        check_out=row.check_out,
        created_at=row.created_at,
        created_by=row.created_by,
        checked_out_at=row.checked_out_at,
        note=row.note,
    )


def _aware(at: datetime) -> None:
    if at.tzinfo is None or at.utcoffset() is None:
        raise NaiveDatetimeError(f"naive datetime {at.isoformat()}")


class VisitorRepo:
    """Reads and writes visitor files; one transaction per call."""

    def __init__(self, session_factory: sessionmaker[Session]) -> None:
        self._sessions = session_factory

    def create(self, new: NewVisitor) -> Visitor:
        _aware(new.created_at)
        with self._sessions.begin() as session:
            key = serial_key(new.check_in)
            serial = next_serial(
                session, VisitorSerialRow, VisitorSerialRow.day, VisitorSerialRow.last, key
            )
            row = VisitorRow(
                file_no=format_visitor_no(new.check_in, serial),
                number=new.number,
                name=new.name,
                check_in=new.check_in,
                check_out=None,
                note=new.note,
                created_by=new.created_by,
                created_at=new.created_at,
            )
            session.add(row)
            session.flush()
            return _plain(row)

    def get(self, file_no: str) -> Visitor | None:
        with self._sessions() as session:
            session.connection(execution_options=READ_ONLY)
            row = session.scalars(select(VisitorRow).where(VisitorRow.file_no == file_no)).first()
            return _plain(row) if row is not None else None

    def check_out(self, file_no: str, day: date, at: datetime) -> Visitor | None:
        """Record the check-out once (``WHERE check_out IS NULL``); None if already done."""
        _aware(at)
        with self._sessions.begin() as session:
            done = session.execute(
                update(VisitorRow)
                .where(VisitorRow.file_no == file_no, VisitorRow.check_out.is_(None))
                .values(check_out=day, checked_out_at=at)
                .execution_options(synchronize_session=False)
            )
            if done.rowcount != 1:  # type: ignore[attr-defined]
                return None
            row = session.scalars(select(VisitorRow).where(VisitorRow.file_no == file_no)).one()
            return _plain(row)

    def for_number(self, number: str, limit: int = 20) -> list[Visitor]:
        """A caller's visitor files, the latest check-in first."""
        with self._sessions() as session:
            session.connection(execution_options=READ_ONLY)
            rows = session.scalars(
                select(VisitorRow)
                .where(VisitorRow.number == number)
                .order_by(VisitorRow.check_in.desc(), VisitorRow.id.desc())
                .limit(limit)
            ).all()
            return [_plain(r) for r in rows]
