"""Daily call rollups (migration 0006): what the reports read instead of the call log.

* `call_rollups`: per variant (site time zone and service-level target), local day,
  kind (``branch``: every ended call under its menu branch or ``(menu)``; ``agent``:
  answered calls under the agent who answered) and key, the report counts and sums.
* `call_rollup_days`: which (variant, day) has rollups and the change stamp they
  were computed at.
* `call_rollup_marks`: a counter per UTC date, bumped by the call-log writer in the
  transaction that changes a call started on that date; a day's rollups are stale
  when the counters of the UTC dates it overlaps moved since.
"""

from __future__ import annotations

from datetime import date

from sqlalchemy import BigInteger, Date, Float, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from ivr.adapters.db.base import Base


class CallRollup(Base):
    __tablename__ = "call_rollups"

    variant: Mapped[str] = mapped_column(String, primary_key=True)
    day: Mapped[date] = mapped_column(Date, primary_key=True)
    kind: Mapped[str] = mapped_column(String, primary_key=True)
    key: Mapped[str] = mapped_column(String, primary_key=True)
    offered: Mapped[int] = mapped_column(Integer, server_default="0")
    answered: Mapped[int] = mapped_column(Integer, server_default="0")
    abandoned_in_menu: Mapped[int] = mapped_column(Integer, server_default="0")
    abandoned_in_queue: Mapped[int] = mapped_column(Integer, server_default="0")
    abandoned_in_queue_within_target: Mapped[int] = mapped_column(Integer, server_default="0")
    answered_within_target: Mapped[int] = mapped_column(Integer, server_default="0")
    voicemail: Mapped[int] = mapped_column(Integer, server_default="0")
    callback: Mapped[int] = mapped_column(Integer, server_default="0")
    wait_answered_seconds: Mapped[float] = mapped_column(Float, server_default="0")
    talk_seconds: Mapped[float] = mapped_column(Float, server_default="0")


class CallRollupDay(Base):
    __tablename__ = "call_rollup_days"

    variant: Mapped[str] = mapped_column(String, primary_key=True)
    day: Mapped[date] = mapped_column(Date, primary_key=True)
    stamp: Mapped[int] = mapped_column(BigInteger)


class CallRollupMark(Base):
    __tablename__ = "call_rollup_marks"

    day: Mapped[date] = mapped_column(Date, primary_key=True)
    gen: Mapped[int] = mapped_column(BigInteger)


ROLLUP_TABLES = frozenset(t.__tablename__ for t in (CallRollup, CallRollupDay, CallRollupMark))
