"""index isrcs by status and fetched_at, for sync --older-than

``isrcdb sync --older-than DUR`` claims the codes fetched longest ago first, a few at a time; without this index
every claim would sort the whole table.

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-28 10:00:00
"""

from __future__ import annotations

from collections.abc import Sequence

from alembic import op

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("isrcs", schema=None) as batch_op:
        batch_op.create_index("ix_isrcs_status_fetched_at", ["status", "fetched_at"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("isrcs", schema=None) as batch_op:
        batch_op.drop_index("ix_isrcs_status_fetched_at")
