"""Gapless serials per key (a month of cases, a check-in day of visitor files), unique
under concurrent writers: ``UPDATE .. SET last = last + 1 .. RETURNING last`` in the
caller's transaction (the row lock serialises writers on PostgreSQL; ``BEGIN
IMMEDIATE`` does on SQLite); a key's first serial inserts the row with ``ON CONFLICT DO
NOTHING`` and retries the update if another writer got there first."""

from __future__ import annotations

from typing import Any

from sqlalchemy import update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import InstrumentedAttribute, Session

from ivr.adapters.db.engine import DbError


def next_serial(
    session: Session,
    row: Any,
    key: InstrumentedAttribute[str],
    last: InstrumentedAttribute[int],
    value: str,
) -> int:
    """The next serial of `value` in the counter table of model `row` (columns `key`, `last`)."""
    table = row.__table__
    insert: Any = (
        postgresql.insert if session.get_bind().dialect.name == "postgresql" else sqlite.insert
    )
    for _ in range(3):
        bumped = session.execute(
            update(row).where(key == value).values({last: last + 1}).returning(last)
        ).scalar()
        if bumped is not None:
            return int(bumped)
        first = session.execute(
            insert(table)
            .values({key.key: value, last.key: 1})
            .on_conflict_do_nothing()
            .returning(table.c[last.key])
        ).scalar()
        if first is not None:
            return int(first)
    raise DbError(f"no serial for {value}")
