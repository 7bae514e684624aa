"""A database outage never loses a survey: the row goes to its spool and is written
once when the database is back (the next survey, or the service's start replays it);
on SQLite and PostgreSQL, down by a closed port, a missing directory or a held lock."""

from __future__ import annotations

import socket
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import Engine
from sqlalchemy.orm import Session, sessionmaker

from ivr.adapters.db.engine import make_engine, make_session_factory, migrate
from ivr.adapters.db.spool import SpoolFormatError
from ivr.adapters.db.survey import SqlSurveys
from ivr.adapters.db.survey_spool import SpoolingSurveys, decode_survey, encode_survey
from ivr.domain.survey import SurveyOutcome, SurveyResult

T0 = datetime(2026, 11, 23, 2, 0, tzinfo=UTC)


def survey(
    uid: str, score: int | None = 5, outcome: SurveyOutcome = SurveyOutcome.SCORED
) -> SurveyResult:
    return SurveyResult(
        call_uid=uid, branch="enquiries", seat="seat2", agent_id="chen", language="zh-CN",
        outcome=outcome, score=score, keys=str(score or 0), started_at=T0,
        ended_at=T0 + timedelta(seconds=9), scale_high=5, case_uid="202611-0001",
    )  # fmt: skip


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture
def spool_path(tmp_path: Path) -> Path:
    return tmp_path / "spool" / "surveys.jsonl"


@pytest.fixture(params=["postgres-closed-port", "sqlite-missing-directory"])
def down_engine(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Engine]:
    if request.param == "postgres-closed-port":
        url = f"postgresql://postgres@127.0.0.1:{_closed_port()}/hotline"
    else:
        url = f"sqlite:///{tmp_path / 'removed-dir' / 'hotline.db'}"
    eng = make_engine(url, busy_timeout=1)
    yield eng
    eng.dispose()


def test_a_survey_round_trips_through_json() -> None:
    for r in (
        survey("a"),
        survey("b", None, SurveyOutcome.LEFT),
        survey("c", None, SurveyOutcome.NOT_RESOLVED),
    ):
        assert decode_survey(encode_survey(r)) == r
    deep = "[" * 5000 + "]" * 5000  # deeper than the JSON parser goes
    for line in (
        "",
        "{}",
        '{"type": "CallStarted", "event": {}}',
        '{"type": "SurveyResult"}',
        deep,
    ):
        with pytest.raises(SpoolFormatError):
            decode_survey(line)


def test_an_outage_spools_the_survey_and_the_replay_writes_it_once(
    down_engine: Engine, session_factory: sessionmaker[Session], spool_path: Path
) -> None:
    down = SpoolingSurveys(SqlSurveys(make_session_factory(down_engine)), spool_path)
    assert down.record(survey("out-1")) is True  # the caller's survey ends as usual
    assert down.record(survey("out-2", 2)) is True
    assert down.spool.pending()

    rows = SqlSurveys(session_factory)
    up = SpoolingSurveys(rows, spool_path)
    assert up.replay() == 2
    assert rows.get("out-1") == survey("out-1") and rows.get("out-2") == survey("out-2", 2)
    assert not up.spool.pending() and up.replay() == 0
    assert up.record(survey("out-1", 1)) is False  # one row per call: the first stands
    assert rows.get("out-1") == survey("out-1")


def test_the_next_survey_replays_the_spooled_ones_first(tmp_path: Path, spool_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'locked.db'}"
    writer, locker = make_engine(url, busy_timeout=0.2), make_engine(url)
    try:
        migrate(writer)
        rows = SqlSurveys(make_session_factory(writer))
        store = SpoolingSurveys(rows, spool_path, retry_interval=0)
        with locker.begin():  # another process holds the write lock too long
            assert store.record(survey("locked-1")) is True
            assert rows.get("locked-1") is None
        assert store.spool.pending()
        assert store.record(survey("locked-2", 3)) is True
        assert not store.spool.pending()
        assert rows.get("locked-1") == survey("locked-1")
        assert rows.get("locked-2") == survey("locked-2", 3)
    finally:
        writer.dispose()
        locker.dispose()
