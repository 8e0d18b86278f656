"""rate-limit counters shared by every worker and instance

Revision ID: a1c3e5f70006
Revises: a1c3e5f70005
Create Date: 2026-11-22 07:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "a1c3e5f70006"
down_revision: str | None = "a1c3e5f70005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # Fixed windows: one row per (bucket, window); UPSERT ... RETURNING counts atomically.
    op.create_table(
        "rate_limit_counters",
        sa.Column("bucket", sa.Text, nullable=False),
        sa.Column("window_start", sa.DateTime(timezone=True), nullable=False),
        sa.Column("hits", sa.Integer, server_default="1", nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("bucket", "window_start", name="rate_limit_counters_pkey"),
        sa.CheckConstraint("hits >= 0", name="rate_limit_counters_hits_check"),
    )
    op.create_index("rate_limit_counters_expires_at_idx", "rate_limit_counters", ["expires_at"])


def downgrade() -> None:
    op.drop_table("rate_limit_counters")
