"""Web users: the language each one chose for the web app (NULL: not chosen).

Revision ID: 0004_user_locale
Revises: 0003_callbacks
Create Date: 2026-12-01
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0004_user_locale"
down_revision: str | None = "0003_callbacks"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    """Add users.locale (a language tag such as zh-CN or en)."""
    with op.batch_alter_table("users") as batch:
        batch.add_column(sa.Column("locale", sa.String(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("users") as batch:
        batch.drop_column("locale")
