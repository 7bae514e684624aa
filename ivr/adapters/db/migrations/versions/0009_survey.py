"""The satisfaction survey: surveys (one row per surveyed call).

Revision ID: 0009_survey
Revises: 0008_cases
Create Date: 2026-12-06
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0009_survey"
down_revision: str | None = "0008_cases"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def _utc() -> sa.DateTime:
    return sa.DateTime(timezone=True)


def upgrade() -> None:
    """Create surveys; call_uid is unique (one survey per call); case_uid is for cases later."""
    op.create_table(
        "surveys",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("call_uid", sa.String(80), nullable=False),
        sa.Column("branch", sa.String(40), nullable=False),
        sa.Column("seat", sa.String(40), nullable=False),
        sa.Column("agent_id", sa.String(40), nullable=False),
        sa.Column("case_uid", sa.String(40), nullable=True),
        sa.Column("language", sa.String(20), nullable=False),
        sa.Column("outcome", sa.String(20), nullable=False),
        sa.Column("score", sa.Integer(), nullable=True),
        sa.Column("scale_high", sa.Integer(), nullable=False),
        sa.Column("keys", sa.String(20), nullable=False),
        sa.Column("started_at", _utc(), nullable=False),
        sa.Column("ended_at", _utc(), nullable=False),
        sa.UniqueConstraint("call_uid", name="uq_surveys_call_uid"),
    )
    op.create_index("ix_surveys_ended_at", "surveys", ["ended_at"])
    op.create_index("ix_surveys_agent_id", "surveys", ["agent_id", "ended_at"])


def downgrade() -> None:
    """Drop surveys (its indexes go with it)."""
    op.drop_table("surveys")
