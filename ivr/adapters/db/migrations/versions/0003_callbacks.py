"""Callback ledger: callback_requests, callback_attempts, callback_events.

Revision ID: 0003_callbacks
Revises: 0002_web
Create Date: 2026-11-23
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0003_callbacks"
down_revision: str | None = "0002_web"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# The open states of ivr.domain.callbacks, frozen here as they were at this revision.
_OPEN = "state IN ('connected', 'dialing', 'requested', 'retry', 'scheduled')"
_DUE = "state IN ('retry', 'scheduled')"


def _utc() -> sa.DateTime:
    return sa.DateTime(timezone=True)


def upgrade() -> None:
    """Create the ledger's tables and the indexes behind its guarantees."""
    op.create_table(
        "callback_requests",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("number", sa.String(), nullable=False),
        sa.Column("matter", sa.String(), nullable=False),
        sa.Column("state", sa.String(), nullable=False),
        sa.Column("language", sa.String(), nullable=False, server_default=""),
        sa.Column("branch", sa.String(), nullable=False, server_default=""),
        sa.Column("source", sa.String(), nullable=False),
        sa.Column("source_uid", sa.String(), nullable=True),
        sa.Column("tz", sa.String(), nullable=False),
        sa.Column("arrived_at", _utc(), nullable=False),
        sa.Column("due_at", _utc(), nullable=True),
        sa.Column("deadline", _utc(), nullable=True),
        sa.Column("expires_at", _utc(), nullable=True),
        sa.Column("attempts", sa.Integer(), nullable=False, server_default="0"),
        sa.Column("last_outcome", sa.String(), nullable=False, server_default=""),
        sa.Column("note", sa.String(), nullable=False, server_default=""),
        sa.Column("created_at", _utc(), nullable=False),
        sa.Column("updated_at", _utc(), nullable=False),
        sa.Column("completed_at", _utc(), nullable=True),
        sa.UniqueConstraint("source_uid", name="uq_callback_requests_source_uid"),
    )
    op.create_index(
        "uq_callback_requests_open",
        "callback_requests",
        ["number", "matter"],
        unique=True,
        sqlite_where=sa.text(_OPEN),
        postgresql_where=sa.text(_OPEN),
    )
    op.create_index("ix_callback_requests_state_due", "callback_requests", ["state", "due_at"])
    op.create_index(
        "ix_callback_requests_dial_order",
        "callback_requests",
        ["due_at", "arrived_at", "id"],
        sqlite_where=sa.text(_DUE),
        postgresql_where=sa.text(_DUE),
    )
    op.create_index("ix_callback_requests_matter", "callback_requests", ["matter"])
    op.create_table(
        "callback_attempts",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("request_id", sa.Integer(), nullable=False),
        sa.Column("seq", sa.Integer(), nullable=False),
        sa.Column("action_id", sa.String(), nullable=False),
        sa.Column("dialer", sa.String(), nullable=False, server_default=""),
        sa.Column("seat", sa.String(), nullable=False, server_default=""),
        sa.Column("agent_id", sa.String(), nullable=False, server_default=""),
        sa.Column("started_at", _utc(), nullable=False),
        sa.Column("sent_at", _utc(), nullable=True),
        sa.Column("connected_at", _utc(), nullable=True),
        sa.Column("ended_at", _utc(), nullable=True),
        sa.Column("outcome", sa.String(), nullable=True),
        sa.Column("counted", sa.Boolean(), nullable=False, server_default=sa.false()),
        sa.Column("dial_status", sa.String(), nullable=False, server_default=""),
        sa.Column("detail", sa.String(), nullable=False, server_default=""),
        sa.ForeignKeyConstraint(
            ["request_id"],
            ["callback_requests.id"],
            name="fk_callback_attempts_request",
            ondelete="CASCADE",
        ),
        sa.UniqueConstraint("request_id", "seq", name="uq_callback_attempts_request_seq"),
        sa.UniqueConstraint("action_id", name="uq_callback_attempts_action_id"),
    )
    op.create_index(
        "ix_callback_attempts_open",
        "callback_attempts",
        ["request_id"],
        sqlite_where=sa.text("outcome IS NULL"),
        postgresql_where=sa.text("outcome IS NULL"),
    )
    op.create_table(
        "callback_events",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("request_id", sa.Integer(), nullable=False),
        sa.Column("at", _utc(), nullable=False),
        sa.Column("from_state", sa.String(), nullable=True),
        sa.Column("to_state", sa.String(), nullable=False),
        sa.Column("reason", sa.String(), nullable=False, server_default=""),
        sa.ForeignKeyConstraint(
            ["request_id"],
            ["callback_requests.id"],
            name="fk_callback_events_request",
            ondelete="CASCADE",
        ),
    )
    op.create_index("ix_callback_events_request", "callback_events", ["request_id", "id"])


def downgrade() -> None:
    """Drop the ledger (indexes go with their tables)."""
    for table in ("callback_events", "callback_attempts", "callback_requests"):
        op.drop_table(table)
