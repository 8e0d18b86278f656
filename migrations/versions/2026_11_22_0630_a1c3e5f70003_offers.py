"""offers, with at most one accepted or completed offer per cleaning

Revision ID: a1c3e5f70003
Revises: a1c3e5f70002
Create Date: 2026-11-22 06:30:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "a1c3e5f70003"
down_revision: str | None = "a1c3e5f70002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "offers",
        sa.Column("user_id", sa.BigInteger, nullable=False),
        sa.Column("cleaning_id", sa.BigInteger, nullable=False),
        sa.Column("status", sa.Text, server_default="pending", nullable=False),
        sa.Column(
            "created_at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False
        ),
        sa.Column(
            "updated_at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False
        ),
        sa.PrimaryKeyConstraint("user_id", "cleaning_id", name="offers_pkey"),
        sa.ForeignKeyConstraint(
            ["user_id"], ["users.id"], name="offers_user_id_fkey", ondelete="CASCADE"
        ),
        sa.ForeignKeyConstraint(
            ["cleaning_id"], ["cleanings.id"], name="offers_cleaning_id_fkey", ondelete="CASCADE"
        ),
        sa.CheckConstraint(
            "status IN ('pending', 'accepted', 'rejected', 'cancelled', 'completed')",
            name="offers_status_check",
        ),
    )
    # Offers of a cleaning, oldest first (the owner's list) - also serves the cascade.
    op.create_index(
        "offers_cleaning_id_created_at_user_id_idx",
        "offers",
        ["cleaning_id", "created_at", "user_id"],
    )
    # The concurrency rule, guaranteed by the database: one hired cleaner per job.
    op.create_index(
        "offers_cleaning_id_hired_key",
        "offers",
        ["cleaning_id"],
        unique=True,
        postgresql_where=sa.text("status IN ('accepted', 'completed')"),
    )
    op.execute(
        "CREATE TRIGGER offers_set_updated_at BEFORE UPDATE ON offers "
        "FOR EACH ROW EXECUTE FUNCTION set_updated_at()"
    )


def downgrade() -> None:
    op.drop_table("offers")
