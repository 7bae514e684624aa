"""Migrations build the schema the models describe; the engine is configured for concurrency."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Engine, inspect, text
from sqlalchemy.exc import OperationalError

from ivr.adapters.db.base import Base
from ivr.adapters.db.engine import (
    READ_ONLY,
    alembic_config,
    downgrade,
    make_engine,
    make_session_factory,
    migrate,
    normalize_url,
)
from ivr.adapters.db.models import CORE_TABLES
from ivr.adapters.db.models_rollups import ROLLUP_TABLES


def _diff_with_models(engine: Engine) -> list[object]:
    def only_core(
        obj: object, name: str | None, type_: str, reflected: bool, compare_to: object
    ) -> bool:
        table = name if type_ == "table" else getattr(getattr(obj, "table", None), "name", None)
        return table in CORE_TABLES | ROLLUP_TABLES

    with engine.connect() as conn:
        context = MigrationContext.configure(
            conn, opts={"include_object": only_core, "compare_type": True}
        )
        return list(compare_metadata(context, Base.metadata))


def test_upgrade_creates_the_schema_the_models_describe(engine: Engine) -> None:
    names = set(inspect(engine).get_table_names())
    assert CORE_TABLES | ROLLUP_TABLES <= names
    assert "alembic_version" in names
    indexes = {ix["name"] for ix in inspect(engine).get_indexes("calls")}
    assert {
        "ix_calls_started_at",
        "ix_calls_caller_started_at",
        "ix_calls_answered_agent_started_at",
        "ix_calls_outcome_started_at",
        "ix_calls_branch",
    } <= indexes
    assert _diff_with_models(engine) == []


def test_migrate_twice_is_a_no_op_and_downgrade_removes_everything(engine: Engine) -> None:
    migrate(engine)
    downgrade(engine, "base")
    assert not CORE_TABLES & set(inspect(engine).get_table_names())
    migrate(engine)
    assert CORE_TABLES <= set(inspect(engine).get_table_names())


def test_migrate_needs_no_working_directory(
    db_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    eng = make_engine(db_url)
    try:
        migrate(eng)
        with eng.connect() as conn:
            version = conn.scalar(text("SELECT version_num FROM alembic_version"))
        assert version == ScriptDirectory.from_config(alembic_config()).get_current_head()
    finally:
        eng.dispose()


def test_postgresql_urls_use_psycopg() -> None:
    assert normalize_url("postgresql://u@h/db").drivername == "postgresql+psycopg"
    assert normalize_url("postgresql+psycopg://u@h/db").drivername == "postgresql+psycopg"
    assert normalize_url("sqlite:///x.db").drivername == "sqlite"


def test_sqlite_pragmas(tmp_path: Path) -> None:
    eng = make_engine(f"sqlite:///{tmp_path / 'p.db'}", busy_timeout=3.5)
    try:
        with eng.connect() as conn:
            assert conn.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
            assert conn.exec_driver_sql("PRAGMA synchronous").scalar() == 1  # NORMAL
            assert conn.exec_driver_sql("PRAGMA busy_timeout").scalar() == 3500
            assert conn.exec_driver_sql("PRAGMA foreign_keys").scalar() == 1
    finally:
        eng.dispose()


def test_sqlite_writers_take_the_write_lock_at_begin(tmp_path: Path) -> None:
    """BEGIN IMMEDIATE: a second writer waits at BEGIN, not half-way through its transaction.

    With a deferred BEGIN the second transaction would start fine while the first
    holds no lock yet; here it is refused (after its short busy timeout) as soon
    as it begins, while a READ_ONLY unit of work still reads.
    """
    url = f"sqlite:///{tmp_path / 'lock.db'}"
    first, second = make_engine(url), make_engine(url, busy_timeout=0.1)
    try:
        migrate(first)
        with first.begin():
            with pytest.raises(OperationalError, match="locked"), second.begin():
                pass
            with make_session_factory(second)() as session:
                session.connection(execution_options=READ_ONLY)
                assert session.execute(text("SELECT count(*) FROM calls")).scalar() == 0
    finally:
        first.dispose()
        second.dispose()


_OPEN_READ_CLOSE = (
    "import sqlite3, sys; c = sqlite3.connect(sys.argv[1]);"
    " c.execute('SELECT count(*) FROM calls').fetchall(); c.close()"
)


def test_a_new_engine_keeps_the_locks_other_connections_of_this_process_hold(
    tmp_path: Path,
) -> None:
    """Making an engine for a database this process already has open must not open
    and close the database file: closing any descriptor of a file drops every POSIX
    lock the process holds on it (SQLite's among them). Another process then takes
    itself for the last connection, checkpoints and deletes the -wal under the open
    connections, and new connections here fail with "disk I/O error" (seen in the
    end-to-end tests, with the AGI script's and the dialer's processes)."""
    path = tmp_path / "shared.db"
    holder = make_engine(f"sqlite:///{path}")
    try:
        migrate(holder)
        # an open connection reading, with a WAL in use
        with holder.connect().execution_options(**READ_ONLY) as conn:
            conn.exec_driver_sql("SELECT count(*) FROM calls").scalar()
            wal = Path(f"{path}-wal")
            assert wal.exists()
            make_engine(f"sqlite:///{path}").dispose()  # a second engine in this process
            # another process opens and closes the database: it is not the last one
            subprocess.run(
                [sys.executable, "-c", _OPEN_READ_CLOSE, str(path)],
                check=True,
            )
            assert wal.exists(), "another process deleted the -wal of an open database"
            fresh = make_engine(f"sqlite:///{path}")
            try:
                with fresh.begin() as c2:
                    assert c2.exec_driver_sql("SELECT count(*) FROM calls").scalar() == 0
            finally:
                fresh.dispose()
    finally:
        holder.dispose()
