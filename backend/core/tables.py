"""The schema as SQLAlchemy Core tables: what `migrations/versions` must produce.

The app never queries through these (its SQL lives in `sql/`). They are Alembic's
`target_metadata`, so `alembic revision --autogenerate` drafts the next migration, and a
test fails when the migrated database and this description disagree.
"""

from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql

metadata = sa.MetaData()


def _timestamps() -> list[sa.Column[object]]:
    return [
        sa.Column(
            "created_at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False
        ),
        sa.Column(
            "updated_at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False
        ),
    ]


def _id() -> sa.Column[int]:
    return sa.Column("id", sa.BigInteger, sa.Identity(always=False), primary_key=True)


users = sa.Table(
    "users",
    metadata,
    _id(),
    sa.Column("username", sa.Text, nullable=False),
    sa.Column("email", sa.Text, nullable=False),
    sa.Column("email_verified", sa.Boolean, server_default=sa.false(), nullable=False),
    sa.Column("password", sa.Text, nullable=False),
    sa.Column("is_active", sa.Boolean, server_default=sa.true(), nullable=False),
    sa.Column("is_superuser", sa.Boolean, server_default=sa.false(), nullable=False),
    sa.Column("token_version", sa.Integer, server_default="0", nullable=False),
    *_timestamps(),
    sa.Index("users_username_lower_key", sa.text("lower(username)"), unique=True),
    sa.Index("users_email_lower_key", sa.text("lower(email)"), unique=True),
)

profiles = sa.Table(
    "profiles",
    metadata,
    _id(),
    sa.Column("full_name", sa.Text),
    sa.Column("phone_number", sa.Text),
    sa.Column("bio", sa.Text, server_default=""),
    sa.Column("image", sa.Text),
    sa.Column(
        "user_id", sa.BigInteger, sa.ForeignKey("users.id", ondelete="CASCADE"), nullable=False
    ),
    *_timestamps(),
    sa.UniqueConstraint("user_id", name="profiles_user_id_key"),
)

cleanings = sa.Table(
    "cleanings",
    metadata,
    _id(),
    sa.Column("name", sa.Text, nullable=False),
    sa.Column("description", sa.Text),
    sa.Column("cleaning_type", sa.Text, server_default="spot_clean", nullable=False),
    sa.Column("price", sa.Numeric(10, 2), nullable=False),
    sa.Column(
        "owner", sa.BigInteger, sa.ForeignKey("users.id", ondelete="CASCADE"), nullable=False
    ),
    *_timestamps(),
    sa.Index(
        "cleanings_owner_created_at_id_idx", "owner", sa.text("created_at DESC"), sa.text("id DESC")
    ),
    sa.Index("cleanings_created_at_id_idx", sa.text("created_at DESC"), sa.text("id DESC")),
    sa.Index(
        "cleanings_updated_at_id_idx",
        sa.text("updated_at DESC"),
        sa.text("id DESC"),
        postgresql_where=sa.text("updated_at <> created_at"),
    ),
)

offers = sa.Table(
    "offers",
    metadata,
    sa.Column(
        "user_id", sa.BigInteger, sa.ForeignKey("users.id", ondelete="CASCADE"), primary_key=True
    ),
    sa.Column(
        "cleaning_id",
        sa.BigInteger,
        sa.ForeignKey("cleanings.id", ondelete="CASCADE"),
        primary_key=True,
    ),
    sa.Column("status", sa.Text, server_default="pending", nullable=False),
    *_timestamps(),
    sa.Index("offers_cleaning_id_created_at_user_id_idx", "cleaning_id", "created_at", "user_id"),
    sa.Index(
        "offers_cleaning_id_hired_key",
        "cleaning_id",
        unique=True,
        postgresql_where=sa.text("status IN ('accepted', 'completed')"),
    ),
)

evaluations = sa.Table(
    "evaluations",
    metadata,
    sa.Column(
        "cleaning_id",
        sa.BigInteger,
        sa.ForeignKey("cleanings.id", ondelete="CASCADE"),
        primary_key=True,
    ),
    sa.Column(
        "cleaner_id", sa.BigInteger, sa.ForeignKey("users.id", ondelete="CASCADE"), primary_key=True
    ),
    sa.Column("no_show", sa.Boolean, server_default=sa.false(), nullable=False),
    sa.Column("headline", sa.Text),
    sa.Column("comment", sa.Text),
    sa.Column("professionalism", sa.SmallInteger),
    sa.Column("completeness", sa.SmallInteger),
    sa.Column("efficiency", sa.SmallInteger),
    sa.Column("overall_rating", sa.SmallInteger, nullable=False),
    *_timestamps(),
    sa.Index(
        "evaluations_cleaner_id_created_at_idx",
        "cleaner_id",
        sa.text("created_at DESC"),
        sa.text("cleaning_id DESC"),
    ),
)

refresh_tokens = sa.Table(
    "refresh_tokens",
    metadata,
    _id(),
    sa.Column(
        "user_id", sa.BigInteger, sa.ForeignKey("users.id", ondelete="CASCADE"), nullable=False
    ),
    sa.Column("family_id", postgresql.UUID(as_uuid=True), nullable=False),
    sa.Column("token_hash", sa.LargeBinary, nullable=False),
    sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("used_at", sa.DateTime(timezone=True)),
    sa.Column("revoked_at", sa.DateTime(timezone=True)),
    sa.Column(
        "created_at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False
    ),
    sa.UniqueConstraint("token_hash", name="refresh_tokens_token_hash_key"),
    sa.Index("refresh_tokens_user_id_idx", "user_id"),
    sa.Index("refresh_tokens_family_id_idx", "family_id"),
    sa.Index("refresh_tokens_expires_at_idx", "expires_at"),
)

password_reset_tokens = sa.Table(
    "password_reset_tokens",
    metadata,
    _id(),
    sa.Column(
        "user_id", sa.BigInteger, sa.ForeignKey("users.id", ondelete="CASCADE"), nullable=False
    ),
    sa.Column("token_hash", sa.LargeBinary, nullable=False),
    sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("used_at", sa.DateTime(timezone=True)),
    sa.Column(
        "created_at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False
    ),
    sa.UniqueConstraint("token_hash", name="password_reset_tokens_token_hash_key"),
    sa.Index("password_reset_tokens_user_id_idx", "user_id"),
    sa.Index("password_reset_tokens_expires_at_idx", "expires_at"),
)

rate_limit_counters = sa.Table(
    "rate_limit_counters",
    metadata,
    sa.Column("bucket", sa.Text, primary_key=True),
    sa.Column("window_start", sa.DateTime(timezone=True), primary_key=True),
    sa.Column("hits", sa.Integer, server_default="1", nullable=False),
    sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
    sa.Index("rate_limit_counters_expires_at_idx", "expires_at"),
)
