"""Speech input in the call log, on SQLite and PostgreSQL (migration 0010_speech):
each step keeps how it was chosen, the phrase and the confidence; the board's and
reports' counts (share of choices by speech, spoken attempts not understood)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from sqlalchemy.orm import Session, sessionmaker

from ivr.adapters.db.calllog import SqlCallLog
from ivr.adapters.db.speech_stats import SpeechCounts, speech_counts
from ivr.domain.calllog import CallEvent, CallStarted, MenuStep

T0 = datetime(2026, 11, 23, 2, 0, tzinfo=UTC)


def at(seconds: float) -> datetime:
    return T0 + timedelta(seconds=seconds)


def call(
    uid: str, steps: list[tuple[str, str, str, str, float | None]], start: float = 0
) -> list[CallEvent]:
    events: list[CallEvent] = [CallStarted(uid, at(start), "13800000001", source="fastagi")]
    for n, (event, input_, key, phrase, conf) in enumerate(steps, 1):
        events.append(MenuStep(uid, n, at(start + n), "main", event, key, "", input_, phrase, conf))
    return events


def test_a_spoken_choice_is_stored_with_its_phrase_and_confidence(call_log: SqlCallLog) -> None:
    call_log.record_many(
        call(
            "c1",
            [("invalid", "speech", "", "불만", 0.42), ("key", "speech", "2", "불만 접수", 0.93)],
        )
    )
    steps = call_log.get_call("c1").steps  # type: ignore[union-attr]
    assert [(s.event, s.input, s.key, s.phrase, s.confidence) for s in steps] == [
        ("invalid", "speech", "", "불만", 0.42),
        ("key", "speech", "2", "불만 접수", 0.93),
    ]


def test_board_and_reports_count_spoken_choices_and_failures(
    call_log: SqlCallLog, session_factory: sessionmaker[Session]
) -> None:
    call_log.record_many(
        call("a", [("invalid", "speech", "", "[unk]", 1.0), ("key", "speech", "1", "예약", 1.0)])
        + call("b", [("timeout", "", "", "", None), ("key", "key", "3", "", None)], start=10)
        + call("c", [("invalid", "key", "7", "", None), ("key", "key", "1", "", None)], start=20)
        + call("late", [("key", "speech", "1", "예약", 1.0)], start=7200)  # outside the span
    )
    with session_factory() as s:
        counts = speech_counts(s, at(0), at(3600))
    assert counts == SpeechCounts(choices=3, spoken=1, failures=1)
    assert counts.share == 1 / 3
    with session_factory() as s:
        assert speech_counts(s, at(-100), at(-1)).share is None
