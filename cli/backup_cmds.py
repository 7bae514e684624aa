"""`hotline backup` and `hotline restore`: consistent copies of the database, checked
before they are brought back (REQUIREMENTS §6)."""

from __future__ import annotations

import argparse
import sys

from cli.common import AddCommand, config


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

    from ivr.adapters.db.backup import BackupError, restore_pg, restore_sqlite
    from ivr.adapters.db.engine import normalize_url

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
        print(f"error: restore refused: {e}", file=sys.stderr)
        return 2
    return 0


def register(add: AddCommand) -> None:
    add("backup", cmd_backup, "copy the database now (SQLite backup API or pg_dump), rotated")
    p = add("restore", cmd_restore, "check a backup and restore it into a fresh target")
    p.add_argument("file", help="a file written by `hotline backup`")
    target = p.add_mutually_exclusive_group(required=True)
    target.add_argument("--data-dir", help="SQLite: a fresh data directory to restore into")
    target.add_argument("--database-url", help="PostgreSQL: an empty database to restore into")
    p.add_argument("--force", action="store_true", help="replace a target that is not empty")
