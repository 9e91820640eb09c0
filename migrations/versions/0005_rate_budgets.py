"""rate budgets: Spotify's rate limit per app, shared by every process using the cache

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-28 09:00:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "rate_budgets",
        sa.Column("app", sa.String(length=64), nullable=False),
        sa.Column("paused_until", sa.String(length=20), nullable=True),
        sa.Column("pause_reason", sa.Text(), nullable=True),
        sa.Column("next_slot", sa.Float(), nullable=True),
        sa.Column("updated_at", sa.String(length=20), nullable=False),
        sa.PrimaryKeyConstraint("app", name=op.f("pk_rate_budgets")),
    )


def downgrade() -> None:
    op.drop_table("rate_budgets")
