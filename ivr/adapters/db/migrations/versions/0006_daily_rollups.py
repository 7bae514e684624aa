"""Daily call rollups for the reports: call_rollups, call_rollup_days, call_rollup_marks.

Revision ID: 0006_daily_rollups
Revises: 0005_web_sessions
Create Date: 2026-12-06

No backfill here: the rollups depend on the site's time zone (config) and the web
app's service-level target, which a migration does not know. A day without a
rollup row is computed from the calls on first read (ivr/adapters/db/rollups.py);
`hotline db rollups` computes them ahead for a range.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0006_daily_rollups"
down_revision: str | None = "0005_web_sessions"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_COUNTS = (
    "offered",
    "answered",
    "abandoned_in_menu",
    "abandoned_in_queue",
    "abandoned_in_queue_within_target",
    "answered_within_target",
    "voicemail",
    "callback",
)


def upgrade() -> None:
    """Create the rollup, rollup-day and change-mark tables."""
    op.create_table(
        "call_rollups",
        sa.Column("variant", sa.String(), primary_key=True),
        sa.Column("day", sa.Date(), primary_key=True),
        sa.Column("kind", sa.String(), primary_key=True),
        sa.Column("key", sa.String(), primary_key=True),
        *(sa.Column(c, sa.Integer(), nullable=False, server_default="0") for c in _COUNTS),
        sa.Column("wait_answered_seconds", sa.Float(), nullable=False, server_default="0"),
        sa.Column("talk_seconds", sa.Float(), nullable=False, server_default="0"),
    )
    op.create_table(
        "call_rollup_days",
        sa.Column("variant", sa.String(), primary_key=True),
        sa.Column("day", sa.Date(), primary_key=True),
        sa.Column("stamp", sa.BigInteger(), nullable=False),
    )
    op.create_table(
        "call_rollup_marks",
        sa.Column("day", sa.Date(), primary_key=True),
        sa.Column("gen", sa.BigInteger(), nullable=False),
    )


def downgrade() -> None:
    """Drop the three tables."""
    op.drop_table("call_rollup_marks")
    op.drop_table("call_rollup_days")
    op.drop_table("call_rollups")
