"""The satisfaction survey's table: one row per surveyed call (migration 0009_survey)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Index, Integer, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from ivr.adapters.db.base import Base
from ivr.adapters.db.models import UtcDateTime


class SurveyRow(Base):
    """A call's survey: at most one per call (unique call_uid); the first written wins."""

    __tablename__ = "surveys"
    __table_args__ = (
        UniqueConstraint("call_uid", name="uq_surveys_call_uid"),
        Index("ix_surveys_ended_at", "ended_at"),
        Index("ix_surveys_agent_id", "agent_id", "ended_at"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    call_uid: Mapped[str] = mapped_column(String(80))
    branch: Mapped[str] = mapped_column(String(40))
    seat: Mapped[str] = mapped_column(String(40))
    agent_id: Mapped[str] = mapped_column(String(40))
    case_uid: Mapped[str | None] = mapped_column(String(40), nullable=True)
    language: Mapped[str] = mapped_column(String(20))
    outcome: Mapped[str] = mapped_column(String(20))
    score: Mapped[int | None] = mapped_column(Integer, nullable=True)
    scale_high: Mapped[int] = mapped_column(Integer)
    keys: Mapped[str] = mapped_column(String(20))
    started_at: Mapped[datetime] = mapped_column(UtcDateTime())
    ended_at: Mapped[datetime] = mapped_column(UtcDateTime())
