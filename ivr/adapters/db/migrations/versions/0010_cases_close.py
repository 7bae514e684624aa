"""Cases closed against their callbacks, and shown live: two indexes.

* callback_requests (source, note): a case-born callback has source 'case' and the
  case number in its note; closing a case cancels its open callbacks, found here;
* case_events (action, at): the live board and the agent page read the latest
  escalations.

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
    """Index the case-born callbacks by their case number, and case events by action."""
    op.create_index("ix_callback_requests_source_note", "callback_requests", ["source", "note"])
    op.create_index("ix_case_events_action_at", "case_events", ["action", "at"])


def downgrade() -> None:
    """Drop the indexes."""
    op.drop_index("ix_case_events_action_at", table_name="case_events")
    op.drop_index("ix_callback_requests_source_note", table_name="callback_requests")
