"""evaluations of cleaners by cleaning owners

Revision ID: a1c3e5f70004
Revises: a1c3e5f70003
Create Date: 2026-11-22 06:40:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "a1c3e5f70004"
down_revision: str | None = "a1c3e5f70003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

RATINGS = ("professionalism", "completeness", "efficiency", "overall_rating")


def upgrade() -> None:
    op.create_table(
        "evaluations",
        sa.Column("cleaning_id", sa.BigInteger, nullable=False),
        sa.Column("cleaner_id", sa.BigInteger, nullable=False),
        sa.Column("no_show", sa.Boolean, server_default=sa.false(), nullable=False),
        sa.Column("headline", sa.Text, nullable=True),
        sa.Column("comment", sa.Text, nullable=True),
        sa.Column("professionalism", sa.SmallInteger, nullable=True),
        sa.Column("completeness", sa.SmallInteger, nullable=True),
        sa.Column("efficiency", sa.SmallInteger, nullable=True),
        sa.Column("overall_rating", sa.SmallInteger, nullable=False),
        sa.Column(
            "created_at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False
        ),
        sa.Column(
            "updated_at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False
        ),
        sa.PrimaryKeyConstraint("cleaning_id", "cleaner_id", name="evaluations_pkey"),
        sa.ForeignKeyConstraint(
            ["cleaning_id"],
            ["cleanings.id"],
            name="evaluations_cleaning_id_fkey",
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["cleaner_id"], ["users.id"], name="evaluations_cleaner_id_fkey", ondelete="CASCADE"
        ),
        *(
            sa.CheckConstraint(f"{column} BETWEEN 0 AND 5", name=f"evaluations_{column}_check")
            for column in RATINGS
        ),
    )
    # A cleaner's evaluations, newest first, and their stats.
    op.create_index(
        "evaluations_cleaner_id_created_at_idx",
        "evaluations",
        ["cleaner_id", sa.text("created_at DESC"), sa.text("cleaning_id DESC")],
    )
    op.execute(
        "CREATE TRIGGER evaluations_set_updated_at BEFORE UPDATE ON evaluations "
        "FOR EACH ROW EXECUTE FUNCTION set_updated_at()"
    )


def downgrade() -> None:
    op.drop_table("evaluations")
