"""UtcDateTime's one-step SQLite binding stores exactly what SQLAlchemy's two steps
(the decorator, then SQLite's DATETIME formatting) stored, so every row written
before it compares and sorts the same."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest
from hypothesis import given
from hypothesis import strategies as st
from sqlalchemy import Column, Integer, MetaData, Table, create_engine, select, text
from sqlalchemy.dialects import sqlite
from sqlalchemy.dialects.sqlite import DATETIME

from ivr.adapters.db.models import NaiveDatetimeError, UtcDateTime

DIALECT = sqlite.dialect()
FUSED = UtcDateTime().dialect_impl(DIALECT).bind_processor(DIALECT)
BASE = DATETIME().bind_processor(DIALECT)


def two_steps(value: datetime) -> str:
    """What SQLAlchemy's TypeDecorator did: process_bind_param, then the impl's format."""
    naive = UtcDateTime().process_bind_param(value, DIALECT)
    assert BASE is not None
    return str(BASE(naive))


zones = st.integers(min_value=-14 * 60, max_value=14 * 60).map(
    lambda m: timezone(timedelta(minutes=m))
)


@given(st.datetimes(min_value=datetime(2, 1, 1), max_value=datetime(9998, 12, 31), timezones=zones))
def test_the_text_is_the_two_steps_text_for_any_aware_datetime(value: datetime) -> None:
    assert FUSED is not None
    assert FUSED(value) == two_steps(value)


@pytest.mark.parametrize(
    "value",
    [
        datetime(2026, 12, 7, 10, 0, tzinfo=UTC),  # no microseconds: still six digits
        datetime(2026, 12, 7, 10, 0, 0, 1, tzinfo=UTC),
        datetime(999, 1, 1, tzinfo=UTC),  # a year of three digits, zero-padded
        datetime(2026, 3, 1, 0, 30, tzinfo=timezone(timedelta(hours=8))),  # the day before in UTC
    ],
)
def test_edges_of_the_format(value: datetime) -> None:
    assert FUSED is not None
    assert FUSED(value) == two_steps(value)


def test_none_and_naive_values() -> None:
    assert FUSED is not None
    assert FUSED(None) is None
    with pytest.raises(NaiveDatetimeError):
        FUSED(datetime(2026, 12, 7, 10, 0))


def test_through_a_real_sqlite_table_values_compare_and_come_back_aware() -> None:
    engine = create_engine("sqlite://")
    table = Table(
        "t", MetaData(), Column("id", Integer, primary_key=True), Column("at", UtcDateTime())
    )
    table.metadata.create_all(engine)
    beijing = timezone(timedelta(hours=8))
    times = [datetime(2026, 12, 7, 10, 0, tzinfo=beijing), datetime(2026, 12, 7, 2, 30, tzinfo=UTC)]
    with engine.begin() as conn:
        conn.execute(table.insert(), [{"at": t} for t in times])
        stored = conn.execute(text("SELECT at FROM t ORDER BY id")).scalars().all()
        assert stored == ["2026-12-07 02:00:00.000000", "2026-12-07 02:30:00.000000"]
        later = (
            conn.execute(
                select(table.c.id).where(
                    table.c.at >= datetime(2026, 12, 7, 10, 15, tzinfo=beijing)
                )
            )
            .scalars()
            .all()
        )
        assert later == [2]
        back = conn.execute(select(table.c.at).order_by(table.c.id)).scalars().all()
    assert back == times and all(b.tzinfo is UTC for b in back)
