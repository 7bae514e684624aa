"""Cases closed against their callbacks, shown live, and visitor files.

* callback_requests (source, note): a case-born callback has source 'case' and the
  case number in its note; closing a case cancels its open callbacks, found here;
* case_events (action, at): the live board and the agent page read the latest
  escalations;
* visitor_files and visitor_serials: guests' files numbered by check-in day and serial
  (REQUIREMENTS §4).

Revision ID: 0011_cases_close
Revises: 0010_speech
Create Date: 2026-12-06
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0011_cases_close"
down_revision: str | None = "0010_speech"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    """Index the case-born callbacks by their case number, and case events by action."""
    op.create_index("ix_callback_requests_source_note", "callback_requests", ["source", "note"])
    op.create_index("ix_case_events_action_at", "case_events", ["action", "at"])
    op.create_table(
        "visitor_serials",
        sa.Column("day", sa.String(), primary_key=True),
        sa.Column("last", sa.Integer(), nullable=False),
    )
    op.create_table(
        "visitor_files",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("file_no", sa.String(), nullable=False),
        sa.Column("number", sa.String(), nullable=False),
        sa.Column("name", sa.String(), nullable=False, server_default=""),
        sa.Column("check_in", sa.Date(), nullable=False),
        sa.Column("check_out", sa.Date(), nullable=True),
        sa.Column("note", sa.String(), nullable=False, server_default=""),
        sa.Column("created_by", sa.String(), nullable=False, server_default=""),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("checked_out_at", sa.DateTime(timezone=True), nullable=True),
    )
    op.create_index("uq_visitor_files_file_no", "visitor_files", ["file_no"], unique=True)
    op.create_index("ix_visitor_files_number", "visitor_files", ["number"])
    op.create_index("ix_visitor_files_check_in", "visitor_files", ["check_in"])


def downgrade() -> None:
    """Drop the visitor tables and the indexes."""
    op.drop_table("visitor_files")
    op.drop_table("visitor_serials")
    op.drop_index("ix_case_events_action_at", table_name="case_events")
    op.drop_index("ix_callback_requests_source_note", table_name="callback_requests")
