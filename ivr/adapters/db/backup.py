"""Backups and restores of the hotline's database, made while the hotline runs.

SQLite is copied page by page through its online backup API
(``sqlite3.Connection.backup``): a consistent snapshot even while the FastAGI
service writes (WAL). PostgreSQL is dumped by ``pg_dump --format=custom``, its
standard tool; the connection details go to it through the ``PG*`` environment,
never on the command line. Copies are named ``hotline-<UTC time>.sqlite`` or
``.pgdump``, kept 0600 in a 0700 directory, and rotated: the newest `keep` stay.

A restore checks the copy first (SQLite: ``PRAGMA integrity_check`` and an
``alembic_version`` this code knows; PostgreSQL: ``pg_restore --list`` and the
same revision read from the dump) and refuses a non-empty target unless forced.
"""

from __future__ import annotations

import os
import re
import sqlite3
import stat
import subprocess
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Final

from sqlalchemy import inspect, text
from sqlalchemy.engine import URL

from ivr.adapters.db.engine import (
    DbError,
    alembic_config,
    make_engine,
    normalize_url,
    sqlite_files,
)
from ivr.adapters.files import chmod_private, fsync_path, private_dir, private_file
from ivr.config.backup import BackupSettings

SQLITE_SUFFIX: Final = ".sqlite"
PG_SUFFIX: Final = ".pgdump"
_NAME_RE: Final = re.compile(r"^hotline-(\d{8}T\d{6}\.\d{6})Z\.(sqlite|pgdump)$")
_STAMP: Final = "%Y%m%dT%H%M%S.%f"
_SQLITE_MAGIC: Final = b"SQLite format 3\x00"
_PG_MAGIC: Final = b"PGDMP"
_TOOL_TIMEOUT: Final = 3600.0


class BackupError(DbError):
    """A backup or a restore could not be made; the message says which file and why."""


@dataclass(frozen=True)
class BackupResult:
    path: Path
    size: int
    removed: tuple[Path, ...]  # older copies deleted by the rotation


# --------------------------------------------------------------------------- backup


def backup(url: str | URL, settings: BackupSettings, now: datetime) -> BackupResult:
    """Copy the database at `url` into `settings.directory`, then rotate."""
    parsed = normalize_url(url)
    directory = private_dir(settings.directory)
    backend = parsed.get_backend_name()
    suffix = SQLITE_SUFFIX if backend == "sqlite" else PG_SUFFIX
    target = directory / f"hotline-{now.astimezone(UTC).strftime(_STAMP)}Z{suffix}"
    partial = target.with_name(target.name + ".partial")
    private_file(partial)
    try:
        if backend == "sqlite":
            _backup_sqlite(_sqlite_path(parsed), partial)
        elif backend == "postgresql":
            _run(["pg_dump", "--format=custom", "--no-owner", f"--file={partial}"], parsed)
        else:
            raise BackupError(f"no backup method for a {backend} database")
        chmod_private(partial)
        fsync_path(partial)
        os.replace(partial, target)
    finally:
        partial.unlink(missing_ok=True)
    return BackupResult(target, target.stat().st_size, rotate(directory, settings.keep))


def backup_if_due(
    url: str | URL, settings: BackupSettings, now: datetime, started: datetime
) -> BackupResult | None:
    """The scheduled backup: made when `settings` says one is due at `now`, else None.

    The schedule runs from the newest copy in the directory, or from `started`
    (when the service started) while there is none.
    """
    last = latest_backup_at(settings.directory) or started
    if settings.next_due(last, now) > now:
        return None
    return backup(url, settings, now)


def backups(directory: Path) -> list[Path]:
    """The copies in `directory`, oldest first (files of other names are ignored)."""
    if not directory.is_dir():
        return []
    return sorted(p for p in directory.iterdir() if _NAME_RE.match(p.name) and p.is_file())


def latest_backup_at(directory: Path) -> datetime | None:
    """When the newest copy in `directory` was made (from its name), or None."""
    found = backups(directory)
    if not found:
        return None
    match = _NAME_RE.match(found[-1].name)
    assert match is not None
    return datetime.strptime(match.group(1), _STAMP).replace(tzinfo=UTC)


def rotate(directory: Path, keep: int) -> tuple[Path, ...]:
    """Delete all but the newest `keep` copies; returns the deleted ones."""
    old = backups(directory)[: -keep or None] if keep > 0 else []
    for path in old:
        path.unlink(missing_ok=True)
    return tuple(old)


def _backup_sqlite(source: Path, target: Path) -> None:
    if not source.is_file():
        raise BackupError(f"no SQLite database at {source}")
    # One step copies every page under one read transaction: a consistent snapshot,
    # while writers go on in WAL mode.
    src = sqlite3.connect(source, timeout=30)
    try:
        dst = sqlite3.connect(target)
        try:
            src.backup(dst)
        finally:
            dst.close()
    except sqlite3.Error as e:
        raise BackupError(f"SQLite backup of {source} failed: {e}") from e
    finally:
        src.close()


# --------------------------------------------------------------------------- checks


def backup_kind(path: Path) -> str:
    """ "sqlite" or "postgresql" from the file's first bytes; BackupError if neither.
    Only a regular file: a FIFO would block the read for ever, a device never end."""
    try:
        if not stat.S_ISREG(path.stat().st_mode):
            raise BackupError(f"{path}: not a regular file")
        with open(path, "rb") as f:
            head = f.read(len(_SQLITE_MAGIC))
    except FileNotFoundError:
        raise BackupError(f"{path}: no such backup file") from None
    except OSError as e:
        raise BackupError(f"{path}: cannot read: {e.strerror}") from e
    if head.startswith(_SQLITE_MAGIC):
        return "sqlite"
    if head.startswith(_PG_MAGIC):
        return "postgresql"
    raise BackupError(f"{path}: not a hotline backup (neither SQLite nor pg_dump custom format)")


def check_backup(path: Path) -> str:
    """Check a copy before it is restored; returns its schema revision."""
    kind = backup_kind(path)
    revision = _check_sqlite(path) if kind == "sqlite" else _check_pg(path)
    if revision not in known_revisions():
        raise BackupError(f"{path}: schema revision {revision!r} is unknown to this hotline")
    return revision


def known_revisions() -> frozenset[str]:
    from alembic.script import ScriptDirectory

    script = ScriptDirectory.from_config(alembic_config())
    return frozenset(s.revision for s in script.walk_revisions())


def _check_sqlite(path: Path) -> str:
    try:
        con = sqlite3.connect(f"file:{path}?mode=ro&immutable=1", uri=True)
        try:
            problems = [row[0] for row in con.execute("PRAGMA integrity_check")]
            if problems != ["ok"]:
                raise BackupError(f"{path}: integrity check failed: {'; '.join(problems[:5])}")
            rows = con.execute("SELECT version_num FROM alembic_version").fetchall()
        finally:
            con.close()
    except sqlite3.Error as e:
        raise BackupError(f"{path}: not a usable hotline database: {e}") from e
    if len(rows) != 1:
        raise BackupError(f"{path}: alembic_version holds {len(rows)} rows, expected 1")
    return str(rows[0][0])


def _check_pg(path: Path) -> str:
    _run(["pg_restore", "--list", str(path)], None, what=f"{path}: not a readable pg_dump")
    sql = _run(
        ["pg_restore", "--data-only", "--table=alembic_version", "--file=-", str(path)],
        None,
        what=f"{path}: cannot read its alembic_version",
    )
    lines = sql.splitlines()
    starts = [
        i for i, line in enumerate(lines) if line.startswith("COPY ") and "alembic_version" in line
    ]
    if not starts or starts[0] + 1 >= len(lines):
        raise BackupError(f"{path}: no alembic_version data: not a hotline database dump")
    return lines[starts[0] + 1].strip()


# --------------------------------------------------------------------------- restore


def restore_sqlite(path: Path, data_dir: Path, db_name: str, *, force: bool = False) -> Path:
    """Bring a checked SQLite copy back as `data_dir/db_name`; returns that path.

    Refuses a data directory that is not empty unless `force`, which replaces
    only the database (and its -wal/-shm files).
    """
    if backup_kind(path) != "sqlite":
        raise BackupError(f"{path}: a PostgreSQL dump restores into a database (--database-url)")
    check_backup(path)
    if data_dir.exists() and any(data_dir.iterdir()) and not force:
        raise BackupError(f"{data_dir} is not empty: restore into a fresh directory, or --force")
    target = private_dir(data_dir) / db_name
    partial = target.with_name(target.name + ".restoring")
    private_file(partial)
    try:
        src = sqlite3.connect(f"file:{path}?mode=ro&immutable=1", uri=True)
        try:
            dst = sqlite3.connect(partial)
            try:
                src.backup(dst)
            finally:
                dst.close()
        finally:
            src.close()
        for stale in sqlite_files(target):
            stale.unlink(missing_ok=True)
        fsync_path(partial)
        os.replace(partial, target)
    except sqlite3.Error as e:
        raise BackupError(f"restoring {path} into {target} failed: {e}") from e
    finally:
        partial.unlink(missing_ok=True)
    return target


def restore_pg(path: Path, url: str | URL, *, force: bool = False) -> None:
    """Bring a checked pg_dump copy back into the (existing) database at `url`.

    Refuses a database that already has tables unless `force`, which empties
    its public schema first.
    """
    if backup_kind(path) != "postgresql":
        raise BackupError(f"{path}: a SQLite copy restores into a data directory (--data-dir)")
    check_backup(path)
    parsed = normalize_url(url)
    if parsed.get_backend_name() != "postgresql":
        raise BackupError(f"{parsed.render_as_string()}: not a PostgreSQL URL")
    engine = make_engine(parsed)
    try:
        with engine.begin() as conn:
            tables = inspect(conn).get_table_names(schema="public")
            if tables and not force:
                raise BackupError(
                    f"database {parsed.database!r} is not empty ({len(tables)} tables): "
                    "restore into a new database, or --force"
                )
            if tables:
                conn.execute(text("DROP SCHEMA public CASCADE"))
                conn.execute(text("CREATE SCHEMA public"))
    except BackupError:
        raise
    except Exception as e:  # unreachable server, missing database, no rights
        reason = str(getattr(e, "orig", None) or e).strip().splitlines()[-1:] or ["?"]
        raise BackupError(f"database {parsed.database!r}: {reason[0]}") from e
    finally:
        engine.dispose()
    _run(
        [
            "pg_restore",
            "--no-owner",
            "--exit-on-error",
            "--single-transaction",
            f"--dbname={parsed.database}",  # the rest (password too) comes from PG*
            str(path),
        ],
        parsed,
        what=f"restoring {path}",
    )


# --------------------------------------------------------------------------- helpers


def _sqlite_path(url: URL) -> Path:
    if not url.database or url.database == ":memory:":
        raise BackupError("an in-memory SQLite database has nothing to back up")
    return Path(url.database)


def pg_environment(url: URL) -> dict[str, str]:
    """libpq's PG* variables for `url` (the password never shows in a process list)."""
    env = {
        "PGHOST": url.host or "",
        "PGPORT": str(url.port or ""),
        "PGUSER": url.username or "",
        "PGPASSWORD": url.password or "",
        "PGDATABASE": url.database or "",
        "PGCONNECT_TIMEOUT": "10",
    }
    sslmode = url.query.get("sslmode")
    if isinstance(sslmode, str):
        env["PGSSLMODE"] = sslmode
    return {k: v for k, v in env.items() if v}


def _run(command: list[str], url: URL | None, what: str | None = None) -> str:
    env: Mapping[str, str] = os.environ
    if url is not None:
        base = {k: v for k, v in os.environ.items() if not k.startswith("PG")}
        env = base | pg_environment(url)
    try:
        done = subprocess.run(  # noqa: S603 (fixed program, arguments are ours)
            command, env=env, capture_output=True, text=True, timeout=_TOOL_TIMEOUT, check=False
        )
    except FileNotFoundError:
        raise BackupError(f"{command[0]} not found: install postgresql-client") from None
    except subprocess.TimeoutExpired:
        raise BackupError(f"{command[0]} took longer than {_TOOL_TIMEOUT:.0f} s") from None
    if done.returncode != 0:
        detail = done.stderr.strip().splitlines()[-1:] or [f"exit status {done.returncode}"]
        raise BackupError(f"{what or command[0]}: {detail[0]}")
    return done.stdout
