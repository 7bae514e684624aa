"""The visitor files' tables (migration 0011_cases_close): visitor_files and the
per-check-in-day serials. The repository (`visitors.py`) copies rows into the domain's
plain `Visitor`."""

from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import Date, Index, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from ivr.adapters.db.base import Base
from ivr.adapters.db.models import UtcDateTime


class VisitorSerialRow(Base):
    __tablename__ = "visitor_serials"

    day: Mapped[str] = mapped_column(String, primary_key=True)  # YYYYMMDD: the check-in day
    last: Mapped[int] = mapped_column(Integer)


class VisitorRow(Base):
    __tablename__ = "visitor_files"
    __table_args__ = (
        Index("uq_visitor_files_file_no", "file_no", unique=True),
        Index("ix_visitor_files_number", "number"),
        Index("ix_visitor_files_check_in", "check_in"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    file_no: Mapped[str] = mapped_column(String)
    number: Mapped[str] = mapped_column(String)  # E.164
    name: Mapped[str] = mapped_column(String, default="", server_default="")
    check_in: Mapped[date] = mapped_column(Date)  # the hotline's local day
    check_out: Mapped[date | None] = mapped_column(Date)
    note: Mapped[str] = mapped_column(String, default="", server_default="")
    created_by: Mapped[str] = mapped_column(String, default="", server_default="")
    created_at: Mapped[datetime] = mapped_column(UtcDateTime())
    checked_out_at: Mapped[datetime | None] = mapped_column(UtcDateTime())


VISITOR_TABLES = frozenset({"visitor_files", "visitor_serials"})
