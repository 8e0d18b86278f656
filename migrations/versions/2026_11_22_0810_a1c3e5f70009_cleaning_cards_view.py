"""cleaning_cards: a cleaning with its owner's card and offer count, as responses embed it

Revision ID: a1c3e5f70009
Revises: a1c3e5f70008
Create Date: 2026-11-22 08:10:00

One definition of the CleaningPublic projection for the single, list and feed queries
(they add only the offers the viewer may see). A plain view: the planner flattens it, so
the cleanings indexes keep serving each query's filter and order.
"""

from collections.abc import Sequence

from alembic import op

revision: str = "a1c3e5f70009"
down_revision: str | None = "a1c3e5f70008"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.execute(
        """
        CREATE VIEW cleaning_cards AS
        SELECT c.id, c.name, c.description, c.price, c.cleaning_type,
               c.owner AS owner_id, c.created_at, c.updated_at,
               uc.card AS owner,
               (SELECT count(*) FROM offers AS o WHERE o.cleaning_id = c.id) AS total_offers
        FROM cleanings AS c
        JOIN user_cards AS uc ON uc.id = c.owner
        """
    )


def downgrade() -> None:
    op.execute("DROP VIEW cleaning_cards")
