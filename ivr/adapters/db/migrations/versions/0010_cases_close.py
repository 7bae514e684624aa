"""Cases closed against their callbacks: an index on callback_requests (source, note).

A case-born callback has source 'case' and the case number in its note; closing a
case cancels its open callbacks, found through this index.

Revision ID: 0010_cases_close
Revises: 0009_survey
Create Date: 2026-12-06
"""

from __future__ import annotations

from collections.abc import Sequence

from alembic import op

revision: str = "0010_cases_close"
down_revision: str | None = "0009_survey"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    """Index the case-born callbacks by their case number."""
    op.create_index("ix_callback_requests_source_note", "callback_requests", ["source", "note"])


def downgrade() -> None:
    """Drop the index."""
    op.drop_index("ix_callback_requests_source_note", table_name="callback_requests")
