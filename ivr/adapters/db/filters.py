"""Query pieces the repositories share.

`starts_with`: a text column starting with a prefix, written so each store answers
it from an index: on SQLite as a range (SQLite's LIKE is case-insensitive and never
uses a plain index), on PostgreSQL as ``LIKE 'prefix%'`` (escaped), which the planner
turns into an index range on a ``text_pattern_ops`` index or under the C collation.
Used by the case search (case numbers, caller numbers) and the callback rate (the
rule's matters). The call list (`web.queries`) keeps ranges on both stores: its
PostgreSQL index on the caller is a plain one, which only a range can use.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy.orm import Session

_TOP = "\U0010ffff"  # above every character: prefix + this bounds the range


def is_sqlite(session: Session) -> bool:
    return session.get_bind().dialect.name == "sqlite"


def starts_with(column: Any, prefix: str, sqlite: bool) -> tuple[Any, ...]:
    """WHERE clauses for `column` starting with `prefix` (literal: no wildcards)."""
    if sqlite:
        return (column >= prefix, column < prefix + _TOP)
    return (column.startswith(prefix, autoescape=True),)
