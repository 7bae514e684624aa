"""Speech input in figures: of the menu choices made in calls that started in a span,
how many were spoken, and how many spoken attempts were not understood (below the
confidence floor, or no option's phrase). One aggregate query over the calls of the
span (by their started_at index) and their steps; cheap enough for the board."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import case, func, select
from sqlalchemy.orm import Session

from ivr.adapters.db.models import Call, CallStep
from ivr.domain.menu import INPUT_SPEECH


@dataclass(frozen=True)
class SpeechCounts:
    choices: int  # menu options chosen (by key or by speech)
    spoken: int  # of which by speech
    failures: int  # spoken attempts not understood (invalid attempts)

    @property
    def share(self) -> float | None:
        """Spoken choices ÷ all choices (None without any choice)."""
        return self.spoken / self.choices if self.choices else None


def speech_counts(s: Session, start: datetime, end: datetime) -> SpeechCounts:
    spoken = CallStep.input == INPUT_SPEECH
    row = s.execute(
        select(
            func.count(case((CallStep.event == "key", 1))),
            func.count(case(((CallStep.event == "key") & spoken, 1))),
            func.count(case(((CallStep.event == "invalid") & spoken, 1))),
        )
        .select_from(Call)
        .join(CallStep, CallStep.call_id == Call.id)
        .where(Call.started_at >= start, Call.started_at < end)
    ).one()
    return SpeechCounts(int(row[0]), int(row[1]), int(row[2]))
