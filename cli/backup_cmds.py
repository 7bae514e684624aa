"""`hotline backup` and `hotline restore`: consistent copies of the database, checked
before they are brought back (REQUIREMENTS §6)."""

from __future__ import annotations

import argparse
import sys

from cli.common import AddCommand, clip, config, nonempty
from ivr.domain.text import shown


def cmd_backup(args: argparse.Namespace) -> int:
    """A consistent copy of the database now, into the configured backup directory."""
    from datetime import UTC, datetime

    from ivr.adapters.db.backup import BackupError, backup

    cfg = config(args)
    try:
        result = backup(cfg.database_url, cfg.backup, datetime.now(UTC))
    except BackupError as e:
        print(f"error: backup failed: {e}", file=sys.stderr)
        return 2
    print(f"backup {result.path} ({result.size} bytes); rotated out {len(result.removed)}")
    return 0


def cmd_restore(args: argparse.Namespace) -> int:
    """Check a copy, then bring it back into a fresh data directory or an empty database."""
    from pathlib import Path

    from ivr.adapters.db.backup import BackupError, backup_kind, restore_pg, restore_sqlite
    from ivr.adapters.db.engine import normalize_url

    try:  # the file first: a refusal names the argument that was wrong
        kind = backup_kind(Path(args.file))
    except BackupError as e:
        print(f"error: argument file: {clip(str(e))}", file=sys.stderr)
        return 2
    wanted = "sqlite" if args.data_dir else "postgresql"
    if kind != wanted:
        into = (
            "a data directory (--data-dir)" if kind == "sqlite" else "a database (--database-url)"
        )
        print(f"error: argument file: a {_KINDS[kind]} copy restores into {into}", file=sys.stderr)
        return 2
    try:
        if args.data_dir:
            url = normalize_url(config(args).database_url)
            sqlite = url.get_backend_name() == "sqlite" and url.database
            name = Path(url.database or "").name if sqlite else "hotline.db"
            target = restore_sqlite(Path(args.file), Path(args.data_dir), name, force=args.force)
            print(f"restored {args.file} into {target}")
        else:
            restore_pg(Path(args.file), args.database_url, force=args.force)
            print(f"restored {args.file} into database {normalize_url(args.database_url).database}")
    except BackupError as e:
        print(f"error: restore refused: {clip(str(e))}", file=sys.stderr)
        return 2
    except OSError as e:  # the data directory cannot be made or written
        item = "--data-dir" if args.data_dir else "file"
        what = f"{e.filename}: {e.strerror}" if e.filename else str(e)
        print(f"error: argument {item}: cannot be used: {clip(what)}", file=sys.stderr)
        return 2
    return 0


_KINDS = {"sqlite": "SQLite", "postgresql": "PostgreSQL"}


def _pg_url(text: str) -> str:
    """An argparse type: a PostgreSQL URL (postgresql://user@host/database)."""
    from sqlalchemy.exc import ArgumentError

    from ivr.adapters.db.engine import normalize_url

    nonempty(text)
    try:
        url = normalize_url(text)
    except (ArgumentError, ValueError):
        raise argparse.ArgumentTypeError(f"{shown(text)} is not a database URL") from None
    if url.get_backend_name() != "postgresql" or not url.database:
        raise argparse.ArgumentTypeError(
            "a PostgreSQL URL with a database, e.g. postgresql://postgres@127.0.0.1/hotline"
        )
    return text


def register(add: AddCommand) -> None:
    add("backup", cmd_backup, "copy the database now (SQLite backup API or pg_dump), rotated")
    p = add("restore", cmd_restore, "check a backup and restore it into a fresh target")
    p.add_argument("file", type=nonempty, help="a file written by `hotline backup`")
    target = p.add_mutually_exclusive_group(required=True)
    target.add_argument(
        "--data-dir", type=nonempty, help="SQLite: a fresh data directory to restore into"
    )
    target.add_argument(
        "--database-url", type=_pg_url, help="PostgreSQL: an empty database to restore into"
    )
    p.add_argument("--force", action="store_true", help="replace a target that is not empty")
