"""Throw-away databases for tests: a SQLite file or a fresh PostgreSQL database."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

PG_ADMIN_URL = "postgresql://postgres@127.0.0.1:5432/postgres"
BACKENDS = ("sqlite", "postgresql")


@contextmanager
def temporary_database(backend: str, directory: Path) -> Iterator[str]:
    """Yield a SQLAlchemy URL for an empty database; drop it afterwards."""
    if backend == "sqlite":
        yield f"sqlite:///{directory / f'hotline-{uuid.uuid4().hex[:8]}.db'}"
        return
    import psycopg

    name = f"hotline_test_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(PG_ADMIN_URL, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    try:
        yield f"postgresql+psycopg://postgres@127.0.0.1:5432/{name}"
    finally:
        with psycopg.connect(PG_ADMIN_URL, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
