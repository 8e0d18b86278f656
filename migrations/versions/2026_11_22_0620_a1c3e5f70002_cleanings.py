"""cleanings

Revision ID: a1c3e5f70002
Revises: a1c3e5f70001
Create Date: 2026-11-22 06:20:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "a1c3e5f70002"
down_revision: str | None = "a1c3e5f70001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "cleanings",
        sa.Column("id", sa.BigInteger, sa.Identity(always=False), primary_key=True),
        sa.Column("name", sa.Text, nullable=False),
        sa.Column("description", sa.Text, nullable=True),
        sa.Column("cleaning_type", sa.Text, server_default="spot_clean", nullable=False),
        sa.Column("price", sa.Numeric(10, 2), nullable=False),
        sa.Column("owner", sa.BigInteger, nullable=False),
        sa.Column(
            "created_at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False
        ),
        sa.Column(
            "updated_at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False
        ),
        sa.PrimaryKeyConstraint("id", name="cleanings_pkey"),
        sa.ForeignKeyConstraint(
            ["owner"], ["users.id"], name="cleanings_owner_fkey", ondelete="CASCADE"
        ),
        sa.CheckConstraint(
            "cleaning_type IN ('dust_up', 'spot_clean', 'full_clean')",
            name="cleanings_cleaning_type_check",
        ),
        sa.CheckConstraint("price BETWEEN 0 AND 99999999.99", name="cleanings_price_check"),
        sa.CheckConstraint("char_length(name) BETWEEN 1 AND 200", name="cleanings_name_check"),
    )
    # "My cleanings, newest first" (keyset on created_at, id).
    op.create_index(
        "cleanings_owner_created_at_id_idx",
        "cleanings",
        ["owner", sa.text("created_at DESC"), sa.text("id DESC")],
    )
    # The feed: create events, and update events (only rows whose updated_at moved).
    op.create_index(
        "cleanings_created_at_id_idx", "cleanings", [sa.text("created_at DESC"), sa.text("id DESC")]
    )
    op.create_index(
        "cleanings_updated_at_id_idx",
        "cleanings",
        [sa.text("updated_at DESC"), sa.text("id DESC")],
        postgresql_where=sa.text("updated_at <> created_at"),
    )
    op.execute(
        "CREATE TRIGGER cleanings_set_updated_at BEFORE UPDATE ON cleanings "
        "FOR EACH ROW EXECUTE FUNCTION set_updated_at()"
    )


def downgrade() -> None:
    op.drop_table("cleanings")
