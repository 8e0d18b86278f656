"""user_cards: a user with their profile as one JSON object, for embedding in responses

Revision ID: a1c3e5f70007
Revises: a1c3e5f70006
Create Date: 2026-11-22 07:10:00

A plain view: PostgreSQL flattens it into each query that joins it, so lookups by id
still use users_pkey and profiles_user_id_key. Emails are in the card; the API hides
them from everyone but the user themself when serialising.
"""

from collections.abc import Sequence

from alembic import op

revision: str = "a1c3e5f70007"
down_revision: str | None = "a1c3e5f70006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.execute(
        """
        CREATE VIEW user_cards AS
        SELECT u.id,
               json_build_object(
                   'id', u.id, 'username', u.username, 'email', u.email,
                   'email_verified', u.email_verified, 'is_active', u.is_active,
                   'is_superuser', u.is_superuser,
                   'created_at', u.created_at, 'updated_at', u.updated_at,
                   'profile', json_build_object(
                       'id', p.id, 'full_name', p.full_name, 'phone_number', p.phone_number,
                       'bio', p.bio, 'image', p.image, 'user_id', u.id,
                       'username', u.username, 'email', u.email,
                       'created_at', p.created_at, 'updated_at', p.updated_at
                   )
               ) AS card
        FROM users AS u
        JOIN profiles AS p ON p.user_id = u.id
        """
    )


def downgrade() -> None:
    op.execute("DROP VIEW user_cards")
