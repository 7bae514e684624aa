"""Engines, sessions and schema migration: the database's composition helpers.

`make_engine` is the one place that knows how SQLite and PostgreSQL must be
configured for several hotline processes (FastAGI server, AGI scripts, AMI
listener, dialer, web) writing to the same database.

SQLite follows SQLAlchemy's "SQLAlchemy emits BEGIN" recipe: the sqlite3
driver's own transaction handling is switched off (``isolation_level = None``)
and every transaction starts with ``BEGIN IMMEDIATE``, so a writer takes the
write lock up front (waiting up to ``busy_timeout``) instead of failing with
"database is locked" when it upgrades a read lock half-way. With WAL, readers
are never blocked by that writer. A read-only unit of work may ask for a
deferred ``BEGIN`` with ``session.connection(execution_options=READ_ONLY)``.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any, Final

from sqlalchemy import Engine, create_engine, event, text
from sqlalchemy.engine import URL, Connection, make_url
from sqlalchemy.orm import Session, sessionmaker

from ivr.adapters.files import chmod_private, private_file

SQLITE_BEGIN_OPTION: Final = "hotline_sqlite_begin"
"""Connection execution option naming the SQLite BEGIN mode (IMMEDIATE or DEFERRED)."""

READ_ONLY: Final[dict[str, Any]] = {SQLITE_BEGIN_OPTION: "DEFERRED"}
"""Execution options for a unit of work that only reads (no write lock on SQLite)."""


class DbError(Exception):
    """Base of the database adapter's own errors (SQLAlchemy's errors pass through as they are)."""


_BEGIN_MODES: Final = frozenset({"DEFERRED", "IMMEDIATE", "EXCLUSIVE"})
_MIGRATIONS_DIR: Final = Path(__file__).resolve().parent / "migrations"
_PG_MIGRATION_LOCK: Final = 7_263_114_001  # arbitrary key for pg_advisory_xact_lock


def normalize_url(url: str | URL) -> URL:
    """Parse `url`, mapping plain ``postgresql://`` to the psycopg 3 driver.

    >>> normalize_url("postgresql://postgres@127.0.0.1/test").drivername
    'postgresql+psycopg'
    """
    parsed = make_url(url)
    if parsed.drivername in ("postgresql", "postgres"):
        parsed = parsed.set(drivername="postgresql+psycopg")
    return parsed


def make_engine(url: str | URL, *, busy_timeout: float = 10.0, echo: bool = False) -> Engine:
    """An engine for `url` configured for several concurrent writer processes.

    `busy_timeout` (seconds) is how long an SQLite writer waits for the write
    lock before giving up with an OperationalError; it is also the PostgreSQL
    connect timeout, so an unreachable server fails fast enough to spool.
    """
    parsed = normalize_url(url)
    if parsed.get_backend_name() == "sqlite":
        return _make_sqlite_engine(parsed, busy_timeout=busy_timeout, echo=echo)
    if parsed.get_backend_name() == "postgresql":
        return create_engine(
            parsed,
            echo=echo,
            hide_parameters=True,  # errors get logged: no caller numbers in them
            pool_pre_ping=True,
            connect_args={"connect_timeout": max(1, round(busy_timeout))},
        )
    return create_engine(parsed, echo=echo, hide_parameters=True)


def make_heavy_engine(url: str | URL, *, pool_size: int, statement_timeout: float) -> Engine:
    """An engine for heavy reads (reports, exports, call-log scans): its own pool of
    `pool_size` connections (no overflow), and no statement runs longer than
    `statement_timeout` seconds.

    PostgreSQL: ``statement_timeout`` set on each of these connections (the pool is
    used for nothing else), so a runaway query is cancelled by the server
    (``QueryCanceled``). SQLite has no such setting: a progress handler, called
    every few thousand virtual-machine steps, interrupts a statement running past
    its deadline (``OperationalError: interrupted``); the deadline is set when a
    statement is executed. Both surface as `sqlalchemy.exc.OperationalError`.
    """
    parsed = normalize_url(url)
    ms = max(1, round(statement_timeout * 1000))
    if parsed.get_backend_name() == "postgresql":
        return create_engine(
            parsed,
            hide_parameters=True,
            pool_pre_ping=True,
            pool_size=pool_size,
            max_overflow=0,
            connect_args={"connect_timeout": 10, "options": f"-c statement_timeout={ms}"},
        )
    engine = (
        _make_sqlite_engine(parsed, busy_timeout=10.0, echo=False, pool_size=pool_size)
        if parsed.get_backend_name() == "sqlite"
        else create_engine(parsed, hide_parameters=True)
    )
    if parsed.get_backend_name() == "sqlite":
        _interrupt_after(engine, statement_timeout)
    return engine


def _interrupt_after(engine: Engine, seconds: float) -> None:
    """SQLite: interrupt any statement still running `seconds` after it was executed."""

    @event.listens_for(engine, "connect")
    def _handler(dbapi_connection: Any, record: Any) -> None:
        info = record.info
        info["deadline"] = float("inf")
        dbapi_connection.set_progress_handler(
            lambda: 1 if time.monotonic() > info["deadline"] else 0, _PROGRESS_STEPS
        )

    @event.listens_for(engine, "before_cursor_execute")
    def _deadline(conn: Connection, *_args: Any) -> None:
        conn.info["deadline"] = time.monotonic() + seconds


_PROGRESS_STEPS: Final = 2000  # SQLite VM steps between two deadline checks


def sqlite_files(database: Path) -> tuple[Path, Path, Path]:
    """The database file and the -wal and -shm files SQLite keeps beside it."""
    return database, Path(f"{database}-wal"), Path(f"{database}-shm")


def _make_sqlite_engine(
    url: URL, *, busy_timeout: float, echo: bool, pool_size: int | None = None
) -> Engine:
    """SQLite with WAL, synchronous=NORMAL, busy timeout, foreign keys, BEGIN IMMEDIATE.

    The database file is made 0600 before SQLite opens it (created so when new),
    and SQLite gives its -wal and -shm files the database file's mode, so the
    umask never exposes them; existing ones are tightened at every connect.
    """
    sizing = {} if pool_size is None else {"pool_size": pool_size, "max_overflow": 0}
    engine = create_engine(
        url, echo=echo, hide_parameters=True, connect_args={"timeout": busy_timeout}, **sizing
    )
    timeout_ms = int(busy_timeout * 1000)
    memory = url.database in (None, "", ":memory:")
    files = () if memory or url.database is None else sqlite_files(Path(url.database))
    if files and files[0].parent.is_dir():
        private_file(files[0])

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        # Hand transaction control to SQLAlchemy: the driver must not emit BEGIN.
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        try:
            cursor.execute(f"PRAGMA busy_timeout = {timeout_ms}")
            if not memory:
                cursor.execute("PRAGMA journal_mode = WAL")
            cursor.execute("PRAGMA synchronous = NORMAL")
            cursor.execute("PRAGMA foreign_keys = ON")
        finally:
            cursor.close()
        chmod_private(*files)

    @event.listens_for(engine, "begin")
    def _on_begin(conn: Connection) -> None:
        mode = str(conn.get_execution_options().get(SQLITE_BEGIN_OPTION, "IMMEDIATE")).upper()
        if mode not in _BEGIN_MODES:
            raise ValueError(
                f"{SQLITE_BEGIN_OPTION}={mode!r}: expected one of {sorted(_BEGIN_MODES)}"
            )
        conn.exec_driver_sql(f"BEGIN {mode}")

    return engine


def make_session_factory(engine: Engine) -> sessionmaker[Session]:
    """The session factory every repository takes; one session per unit of work.

    ``expire_on_commit=False`` because repositories copy rows into plain
    dataclasses before the session closes and never hand out ORM objects.
    """
    return sessionmaker(bind=engine, expire_on_commit=False)


def alembic_config(connection: Connection | None = None) -> Any:
    """A programmatic alembic Config pointing at the packaged migrations.

    Works from an installed package: no alembic.ini and no working directory
    needed. When `connection` is given, env.py migrates over it.
    """
    from alembic.config import Config

    config = Config()
    config.set_main_option("script_location", str(_MIGRATIONS_DIR))
    if connection is not None:
        config.attributes["connection"] = connection
    return config


def migrate(engine: Engine, revision: str = "head") -> None:
    """Upgrade the schema to `revision` (default: head) in one transaction.

    Safe when several processes start at once: SQLite serialises them with
    BEGIN IMMEDIATE, PostgreSQL with a transaction-scoped advisory lock.
    """
    from alembic import command

    with engine.begin() as connection:
        _lock_for_migration(connection)
        command.upgrade(alembic_config(connection), revision)


def downgrade(engine: Engine, revision: str) -> None:
    """Downgrade the schema to `revision` ("base" removes every table)."""
    from alembic import command

    with engine.begin() as connection:
        _lock_for_migration(connection)
        command.downgrade(alembic_config(connection), revision)


def _lock_for_migration(connection: Connection) -> None:
    """Serialise concurrent migrations on PostgreSQL (SQLite already is, by BEGIN IMMEDIATE)."""
    if connection.dialect.name == "postgresql":
        connection.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": _PG_MIGRATION_LOCK})
