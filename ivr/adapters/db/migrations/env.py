"""Alembic environment for the hotline schema.

Programmatic use (`ivr.adapters.db.engine.migrate`) passes an open connection in
``config.attributes["connection"]``. From the command line
(``alembic -c ivr/adapters/db/alembic.ini upgrade head``) the URL comes from
``HOTLINE_DATABASE_URL`` or the ini's ``sqlalchemy.url``.
"""

from __future__ import annotations

import importlib
import os
import pkgutil

from alembic import context
from sqlalchemy import Connection

import ivr.adapters.db
from ivr.adapters.db.base import Base
from ivr.adapters.db.engine import make_engine


def _import_models() -> None:
    """Import every ``ivr.adapters.db.models*`` module so autogenerate sees all tables.

    The core tables live in ``models.py``; the web app and the dialer add theirs
    in ``models_<feature>.py`` on the same Base.
    """
    for module in pkgutil.iter_modules(ivr.adapters.db.__path__):
        if module.name.startswith("models"):
            importlib.import_module(f"ivr.adapters.db.{module.name}")


_import_models()
config = context.config
target_metadata = Base.metadata


def _configure(connection: Connection) -> None:
    context.configure(
        connection=connection,
        target_metadata=target_metadata,
        render_as_batch=connection.dialect.name == "sqlite",
        compare_type=True,
    )


def run_migrations_online() -> None:
    """Migrate over the given connection, or over a fresh engine from the URL."""
    connection = config.attributes.get("connection")
    if connection is not None:
        _configure(connection)
        with context.begin_transaction():
            context.run_migrations()
        return
    url = os.environ.get("HOTLINE_DATABASE_URL") or config.get_main_option("sqlalchemy.url")
    if not url:
        raise RuntimeError("no database URL: set HOTLINE_DATABASE_URL or sqlalchemy.url")
    engine = make_engine(url)
    try:
        with engine.connect() as conn:
            _configure(conn)
            with context.begin_transaction():
                context.run_migrations()
    finally:
        engine.dispose()


def run_migrations_offline() -> None:
    """Emit SQL to stdout instead of running it (``alembic upgrade head --sql``)."""
    url = os.environ.get("HOTLINE_DATABASE_URL") or config.get_main_option("sqlalchemy.url")
    context.configure(url=url, target_metadata=target_metadata, literal_binds=True)
    with context.begin_transaction():
        context.run_migrations()


if context.is_offline_mode():
    run_migrations_offline()
else:
    run_migrations_online()
