"""Cases: case_serials, cases, case_calls, case_events.

Revision ID: 0008_cases
Revises: 0006_daily_rollups
Create Date: 2026-12-06
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0008_cases"
down_revision: str | None = "0006_daily_rollups"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# The active states of ivr.domain.cases, frozen here as they were at this revision.
_ACTIVE = "state IN ('in_progress', 'open', 'reopened', 'waiting_customer')"


def _utc() -> sa.DateTime:
    return sa.DateTime(timezone=True)


def upgrade() -> None:
    """Create the case tables and the indexes of the board, the sweep and the search."""
    op.create_table(
        "case_serials",
        sa.Column("month", sa.String(), primary_key=True),
        sa.Column("last", sa.Integer(), nullable=False),
    )
    op.create_table(
        "cases",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("case_no", sa.String(), nullable=False),
        sa.Column("kind", sa.String(), nullable=False),
        sa.Column("case_class", sa.String(), nullable=False),
        sa.Column("state", sa.String(), nullable=False),
        sa.Column("number", sa.String(), nullable=False),
        sa.Column("matter", sa.String(), nullable=False),
        sa.Column("owner", sa.String(), nullable=False, server_default=""),
        sa.Column("branch", sa.String(), nullable=False, server_default=""),
        sa.Column("term", sa.String(), nullable=False),
        sa.Column("opened_by", sa.String(), nullable=False, server_default=""),
        sa.Column("opened_at", _utc(), nullable=False),
        sa.Column("deadline", _utc(), nullable=False),
        sa.Column("escalation", sa.String(), nullable=False, server_default="none"),
        sa.Column("summary", sa.String(), nullable=False, server_default=""),
        sa.Column("updated_at", _utc(), nullable=False),
        sa.Column("done_at", _utc(), nullable=True),
    )
    # text_pattern_ops: LIKE 'prefix%' from the index whatever the collation.
    op.create_index(
        "uq_cases_case_no",
        "cases",
        ["case_no"],
        unique=True,
        postgresql_ops={"case_no": "text_pattern_ops"},
    )
    op.create_index(
        "ix_cases_active_deadline",
        "cases",
        ["deadline"],
        sqlite_where=sa.text(_ACTIVE),
        postgresql_where=sa.text(_ACTIVE),
    )
    op.create_index("ix_cases_owner_state", "cases", ["owner", "state"])
    op.create_index(
        "ix_cases_number_state",
        "cases",
        ["number", "state"],
        postgresql_ops={"number": "text_pattern_ops"},
    )
    op.create_index("ix_cases_opened_at", "cases", ["opened_at"])
    op.create_index("ix_cases_branch_opened_at", "cases", ["branch", "opened_at"])
    op.create_table(
        "case_calls",
        sa.Column("case_id", sa.Integer(), nullable=False),
        sa.Column("call_uid", sa.String(), nullable=False),
        sa.Column("linked_at", _utc(), nullable=False),
        sa.PrimaryKeyConstraint("case_id", "call_uid", name="pk_case_calls"),
        sa.ForeignKeyConstraint(
            ["case_id"], ["cases.id"], name="fk_case_calls_case", ondelete="CASCADE"
        ),
    )
    op.create_index("ix_case_calls_call_uid", "case_calls", ["call_uid"])
    op.create_table(
        "case_events",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("case_id", sa.Integer(), nullable=False),
        sa.Column("at", _utc(), nullable=False),
        sa.Column("who", sa.String(), nullable=False),
        sa.Column("action", sa.String(), nullable=False),
        sa.Column("from_state", sa.String(), nullable=True),
        sa.Column("to_state", sa.String(), nullable=True),
        sa.Column("detail", sa.String(), nullable=False, server_default=""),
        sa.ForeignKeyConstraint(
            ["case_id"], ["cases.id"], name="fk_case_events_case", ondelete="CASCADE"
        ),
    )
    op.create_index("ix_case_events_case", "case_events", ["case_id", "id"])


def downgrade() -> None:
    """Drop the case tables (their indexes go with them)."""
    for table in ("case_events", "case_calls", "cases", "case_serials"):
        op.drop_table(table)
