"""Speech input: how each menu step was chosen (key or speech), the phrase heard and
the recogniser's confidence.

Revision ID: 0010_speech
Revises: 0009_survey
Create Date: 2026-12-06
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0010_speech"
down_revision: str | None = "0009_survey"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    """Three columns on call_steps; existing rows get "" (key presses before speech)."""
    with op.batch_alter_table("call_steps") as batch:
        batch.add_column(sa.Column("input", sa.String(10), nullable=False, server_default=""))
        batch.add_column(sa.Column("phrase", sa.String(), nullable=False, server_default=""))
        batch.add_column(sa.Column("confidence", sa.Float(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("call_steps") as batch:
        batch.drop_column("confidence")
        batch.drop_column("phrase")
        batch.drop_column("input")
