"""users and profiles, and the updated_at trigger function

Revision ID: a1c3e5f70001
Revises:
Create Date: 2026-11-22 06:10:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "a1c3e5f70001"
down_revision: str | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def timestamps() -> list[sa.Column[object]]:
    return [
        sa.Column(
            "created_at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False
        ),
        sa.Column(
            "updated_at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False
        ),
    ]


def upgrade() -> None:
    op.execute(
        """
        CREATE FUNCTION set_updated_at() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN
            NEW.updated_at := now();
            RETURN NEW;
        END;
        $$
        """
    )
    op.create_table(
        "users",
        sa.Column("id", sa.BigInteger, sa.Identity(always=False), primary_key=True),
        sa.Column("username", sa.Text, nullable=False),
        sa.Column("email", sa.Text, nullable=False),
        sa.Column("email_verified", sa.Boolean, server_default=sa.false(), nullable=False),
        sa.Column("password", sa.Text, nullable=False),
        sa.Column("is_active", sa.Boolean, server_default=sa.true(), nullable=False),
        sa.Column("is_superuser", sa.Boolean, server_default=sa.false(), nullable=False),
        # Bumped by a password change: every access token carrying an older value is dead.
        sa.Column("token_version", sa.Integer, server_default="0", nullable=False),
        *timestamps(),
        sa.CheckConstraint("username ~ '^[a-zA-Z0-9_-]{3,64}$'", name="users_username_check"),
        sa.CheckConstraint(
            "char_length(email) BETWEEN 3 AND 320 AND position('@' in email) > 1",
            name="users_email_check",
        ),
        sa.PrimaryKeyConstraint("id", name="users_pkey"),
    )
    op.create_index("users_username_lower_key", "users", [sa.text("lower(username)")], unique=True)
    op.create_index("users_email_lower_key", "users", [sa.text("lower(email)")], unique=True)
    op.execute(
        "CREATE TRIGGER users_set_updated_at BEFORE UPDATE ON users "
        "FOR EACH ROW EXECUTE FUNCTION set_updated_at()"
    )

    op.create_table(
        "profiles",
        sa.Column("id", sa.BigInteger, sa.Identity(always=False), primary_key=True),
        sa.Column("full_name", sa.Text, nullable=True),
        sa.Column("phone_number", sa.Text, nullable=True),
        sa.Column("bio", sa.Text, server_default="", nullable=True),
        sa.Column("image", sa.Text, nullable=True),
        sa.Column("user_id", sa.BigInteger, nullable=False),
        *timestamps(),
        sa.PrimaryKeyConstraint("id", name="profiles_pkey"),
        sa.UniqueConstraint("user_id", name="profiles_user_id_key"),
        sa.ForeignKeyConstraint(
            ["user_id"], ["users.id"], name="profiles_user_id_fkey", ondelete="CASCADE"
        ),
    )
    op.execute(
        "CREATE TRIGGER profiles_set_updated_at BEFORE UPDATE ON profiles "
        "FOR EACH ROW EXECUTE FUNCTION set_updated_at()"
    )


def downgrade() -> None:
    op.drop_table("profiles")
    op.drop_table("users")
    op.execute("DROP FUNCTION set_updated_at()")
