"""offer_cards: an offer with its maker's user card, as one JSON object

Revision ID: a1c3e5f70008
Revises: a1c3e5f70007
Create Date: 2026-11-22 07:20:00

Embedded in every cleaning response (`offers`); a plain view, flattened by the planner, so
offers_cleaning_id_created_at_user_id_idx still serves the lookups by cleaning.
"""

from collections.abc import Sequence

from alembic import op

revision: str = "a1c3e5f70008"
down_revision: str | None = "a1c3e5f70007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.execute(
        """
        CREATE VIEW offer_cards AS
        SELECT o.cleaning_id, o.user_id, o.created_at,
               json_build_object(
                   'user_id', o.user_id, 'cleaning_id', o.cleaning_id, 'status', o.status,
                   'user', uc.card, 'created_at', o.created_at, 'updated_at', o.updated_at
               ) AS card
        FROM offers AS o
        JOIN user_cards AS uc ON uc.id = o.user_id
        """
    )


def downgrade() -> None:
    op.execute("DROP VIEW offer_cards")
