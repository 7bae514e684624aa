"""Initial schema: calls, call_steps, routing_decisions, agent_states, seat_states.

Revision ID: 0001
Revises:
Create Date: 2025-11-23
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0001"
down_revision: str | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def _utc() -> sa.DateTime:
    return sa.DateTime(timezone=True)


def upgrade() -> None:
    """Create the core tables and the call-log indexes."""
    _create_calls()
    _create_call_steps()
    _create_routing_decisions()
    op.create_table(
        "agent_states",
        sa.Column("agent_id", sa.String(), primary_key=True),
        sa.Column("state", sa.String(), nullable=False),
        sa.Column("reason", sa.String(), nullable=False, server_default=""),
        sa.Column("since", _utc(), nullable=False),
        sa.Column("updated_at", _utc(), nullable=False),
    )
    op.create_table(
        "seat_states",
        sa.Column("seat", sa.String(), primary_key=True),
        sa.Column("device_state", sa.String(), nullable=False),
        sa.Column("updated_at", _utc(), nullable=False),
    )


def _create_calls() -> None:
    op.create_table(
        "calls",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("uid", sa.String(), nullable=False),
        sa.Column("caller", sa.String(), nullable=False, server_default=""),
        sa.Column("caller_name", sa.String(), nullable=False, server_default=""),
        sa.Column("dialed", sa.String(), nullable=False, server_default=""),
        sa.Column("channel", sa.String(), nullable=False, server_default=""),
        sa.Column("source", sa.String(), nullable=True),
        sa.Column("language", sa.String(), nullable=False, server_default=""),
        sa.Column("started_at", _utc(), nullable=False),
        sa.Column("routed_at", _utc(), nullable=True),
        sa.Column("answered_at", _utc(), nullable=True),
        sa.Column("ended_at", _utc(), nullable=True),
        sa.Column("branch", sa.String(), nullable=True),
        sa.Column("route_kind", sa.String(), nullable=True),
        sa.Column("route_target", sa.String(), nullable=True),
        sa.Column("priority", sa.Integer(), nullable=False, server_default="0"),
        sa.Column("vip", sa.Boolean(), nullable=False, server_default=sa.false()),
        sa.Column("answered_seat", sa.String(), nullable=True),
        sa.Column("answered_agent", sa.String(), nullable=True),
        sa.Column("outcome", sa.String(), nullable=False, server_default="in_progress"),
        sa.Column("reported_outcome", sa.String(), nullable=True),
        sa.Column("hangup_cause", sa.String(), nullable=False, server_default=""),
        sa.Column("wait_seconds", sa.Float(), nullable=True),
        sa.Column("talk_seconds", sa.Float(), nullable=True),
        sa.UniqueConstraint("uid", name="uq_calls_uid"),
    )
    op.create_index("ix_calls_started_at", "calls", ["started_at"])
    op.create_index("ix_calls_caller_started_at", "calls", ["caller", "started_at"])
    op.create_index("ix_calls_answered_agent_started_at", "calls", ["answered_agent", "started_at"])
    op.create_index("ix_calls_outcome_started_at", "calls", ["outcome", "started_at"])
    op.create_index("ix_calls_branch", "calls", ["branch"])


def _create_call_steps() -> None:
    op.create_table(
        "call_steps",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("call_id", sa.Integer(), nullable=False),
        sa.Column("seq", sa.Integer(), nullable=False),
        sa.Column("at", _utc(), nullable=False),
        sa.Column("node", sa.String(), nullable=False),
        sa.Column("event", sa.String(), nullable=False),
        sa.Column("key", sa.String(), nullable=False, server_default=""),
        sa.Column("detail", sa.String(), nullable=False, server_default=""),
        sa.ForeignKeyConstraint(
            ["call_id"], ["calls.id"], name="fk_call_steps_call_id", ondelete="CASCADE"
        ),
        sa.UniqueConstraint("call_id", "seq", name="uq_call_steps_call_id_seq"),
    )


def _create_routing_decisions() -> None:
    op.create_table(
        "routing_decisions",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("call_id", sa.Integer(), nullable=False),
        sa.Column("at", _utc(), nullable=False),
        sa.Column("branch", sa.String(), nullable=False),
        sa.Column("kind", sa.String(), nullable=False),
        sa.Column("target", sa.String(), nullable=False),
        sa.Column("priority", sa.Integer(), nullable=False, server_default="0"),
        sa.Column("vip", sa.Boolean(), nullable=False, server_default=sa.false()),
        sa.Column("language", sa.String(), nullable=False, server_default=""),
        sa.Column("trace", sa.JSON(), nullable=False),
        sa.ForeignKeyConstraint(
            ["call_id"], ["calls.id"], name="fk_routing_decisions_call_id", ondelete="CASCADE"
        ),
        sa.UniqueConstraint("call_id", name="uq_routing_decisions_call_id"),
    )


def downgrade() -> None:
    """Drop everything `upgrade` created (indexes go with their tables)."""
    for table in ("seat_states", "agent_states", "routing_decisions", "call_steps", "calls"):
        op.drop_table(table)
