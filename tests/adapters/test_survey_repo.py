"""The surveys table on SQLite and PostgreSQL: one survey per call (also when two
writers race), the nullable case column, reading back by period, and the schema
migration 0009_survey matching the model."""

from __future__ import annotations

import threading
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import inspect, select
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session, sessionmaker

from ivr.adapters.db.base import Base
from ivr.adapters.db.models import NaiveDatetimeError
from ivr.adapters.db.models_survey import SurveyRow
from ivr.adapters.db.survey import SqlSurveys, day_counts, survey_groups
from ivr.domain.survey import SurveyOutcome, SurveyResult

T0 = datetime(2026, 11, 23, 2, 0, tzinfo=UTC)


def result(uid: str, score: int | None = 4, **kw: object) -> SurveyResult:
    base = SurveyResult(
        call_uid=uid,
        branch="enquiries",
        seat="seat3",
        agent_id="li",
        language="zh-CN",
        outcome=SurveyOutcome.SCORED if score is not None else SurveyOutcome.LEFT,
        score=score,
        keys=str(score or ""),
        started_at=T0,
        ended_at=T0 + timedelta(seconds=5),
        scale_high=5,
    )
    return replace(base, **kw)  # type: ignore[arg-type]


def test_a_survey_is_stored_and_read_back(session_factory: sessionmaker[Session]) -> None:
    repo = SqlSurveys(session_factory)
    assert repo.record(result("1732330800.1"))
    got = repo.get("1732330800.1")
    assert got == result("1732330800.1")
    assert got is not None and got.case_uid is None and got.ended_at.tzinfo is not None
    assert repo.get("nope") is None


def test_one_survey_per_call_the_first_stands(session_factory: sessionmaker[Session]) -> None:
    repo = SqlSurveys(session_factory)
    assert repo.record(result("u1", 5))
    assert not repo.record(result("u1", None))
    got = repo.get("u1")
    assert got is not None and got.score == 5 and got.outcome is SurveyOutcome.SCORED
    with session_factory() as s:
        assert len(s.scalars(select(SurveyRow).where(SurveyRow.call_uid == "u1")).all()) == 1


def test_racing_writers_leave_one_row(session_factory: sessionmaker[Session]) -> None:
    repo = SqlSurveys(session_factory)
    outcomes: list[bool] = []
    errors: list[BaseException] = []
    start = threading.Barrier(4)

    def write(score: int) -> None:
        try:
            start.wait()
            outcomes.append(repo.record(result("race", score)))
        except Exception as e:  # noqa: BLE001 (reported below)
            errors.append(e)

    threads = [threading.Thread(target=write, args=(n,)) for n in (1, 2, 3, 4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    assert sorted(outcomes) == [False, False, False, True]
    with session_factory() as s:
        assert len(s.scalars(select(SurveyRow).where(SurveyRow.call_uid == "race")).all()) == 1


def test_case_uid_is_stored_when_given_and_hostile_text_is_kept(
    session_factory: sessionmaker[Session],
) -> None:
    repo = SqlSurveys(session_factory)
    assert repo.record(result("c1", case_uid="202611-0001", branch="com\u00e9plaints"))
    got = repo.get("c1")
    assert got is not None and got.case_uid == "202611-0001" and got.branch == "com\u00e9plaints"
    # keys longer than the column are cut, never refused
    assert repo.record(result("c2", keys="7" * 50))
    got = repo.get("c2")
    assert got is not None and got.keys == "7" * 20


def test_a_naive_time_is_refused(session_factory: sessionmaker[Session]) -> None:
    with pytest.raises(NaiveDatetimeError):
        SqlSurveys(session_factory).record(result("n1", ended_at=datetime(2026, 11, 23)))


def test_between_reads_by_end_time(session_factory: sessionmaker[Session]) -> None:
    repo = SqlSurveys(session_factory)
    for i in range(5):
        at = T0 + timedelta(hours=i)
        repo.record(result(f"b{i}", 1 + i, started_at=at, ended_at=at + timedelta(seconds=9)))
    got = repo.between(T0 + timedelta(hours=1), T0 + timedelta(hours=3))
    assert [r.call_uid for r in got] == ["b1", "b2"]
    assert [r.score for r in got] == [2, 3]


def test_the_migration_makes_the_table_the_model_describes(engine: Engine) -> None:
    assert "surveys" in inspect(engine).get_table_names()
    indexes = {ix["name"] for ix in inspect(engine).get_indexes("surveys")}
    assert {"ix_surveys_ended_at", "ix_surveys_agent_id"} <= indexes

    def only_surveys(obj: object, name: str | None, type_: str, *_: object) -> bool:
        table = name if type_ == "table" else getattr(getattr(obj, "table", None), "name", None)
        return table == "surveys"

    with engine.connect() as conn:
        ctx = MigrationContext.configure(
            conn, opts={"include_object": only_surveys, "compare_type": True}
        )
        assert list(compare_metadata(ctx, Base.metadata)) == []


def test_groups_count_per_period_bound_and_the_day_counts(
    session_factory: sessionmaker[Session],
) -> None:
    shanghai = ZoneInfo("Asia/Shanghai")
    day1 = datetime(2026, 11, 23, tzinfo=shanghai)
    day2 = day1 + timedelta(days=1)
    repo = SqlSurveys(session_factory)
    ends = {  # uid: (end, score); 23:59:59 local on day 1 is 15:59:59 UTC
        "g1": (day1 + timedelta(hours=10), 5),
        "g2": (day2 - timedelta(seconds=1), 4),
        "g3": (day2, 2),  # local midnight: day 2
        "g4": (day2 + timedelta(hours=3), None),
        "g5": (day1 - timedelta(seconds=1), 5),  # before the range
    }
    for uid, (end, score) in ends.items():
        repo.record(result(uid, score, started_at=end - timedelta(seconds=9), ended_at=end))
    with session_factory() as s:
        groups = survey_groups(s, day1, day2 + timedelta(days=1), [day1, day2])
        counts = day_counts(s, day1, day2, satisfied_from=4)
    per_period: dict[int, int] = {}
    for g in groups:
        per_period[g.period] = per_period.get(g.period, 0) + g.count
    assert per_period == {0: 2, 1: 2}
    scored_day2 = [(g.score, g.count) for g in groups if g.period == 1 and g.score is not None]
    assert scored_day2 == [(2, 1)]
    assert counts == (2, 2, 0)  # scored, satisfied, not resolved on day 1
