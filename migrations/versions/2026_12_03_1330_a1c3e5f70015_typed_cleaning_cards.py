"""offer_rows, cleaning_rows, offer_rows_seen_by(): cleanings with typed owners and offers

Revision ID: a1c3e5f70015
Revises: a1c3e5f70014
Create Date: 2026-12-03 13:30:00

The OfferPublic shape is now defined once, as the `offer_rows` view: the offer's columns
and `user`, its maker's `user_rows` row. A cleaning response now embeds typed values
instead of JSON:
- `cleaning_rows`: the CleaningPublic projection, with `owner` as a `user_rows` row;
- `offer_rows_seen_by()`: the offers a viewer may see, as an array of `offer_rows`.

asyncpg decodes these in binary, and `backend/core/rows.py` writes them as it writes any row.
PostgreSQL builds no JSON text for these responses, and the workers parse none.

This is the expand step. `cleaning_cards`, `offer_cards` and `offers_seen_by()` (JSON) stay
unchanged for the instances that still run the previous release during a rolling deploy. A
later revision drops them, once no instance reads them (the contract step).
`offer_rows_seen_by()` is a one-SELECT SQL function, so the planner inlines it like
`offers_seen_by()`. Creating views and functions takes no lock on any table.
"""

from collections.abc import Sequence

from alembic import op

revision: str = "a1c3e5f70015"
down_revision: str | None = "a1c3e5f70014"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.execute(
        """
        CREATE VIEW offer_rows AS
        SELECT o.created_at, o.updated_at, o.user_id, o.cleaning_id, o.status, ur AS user
        FROM offers AS o
        JOIN user_rows AS ur ON ur.id = o.user_id
        """
    )
    op.execute(
        """
        CREATE FUNCTION offer_rows_seen_by(cleaning_id bigint, owner_id bigint, viewer_id bigint)
        RETURNS TABLE (offers offer_rows[])
        LANGUAGE sql STABLE PARALLEL SAFE ROWS 1
        AS $$
            SELECT COALESCE(
                (SELECT array_agg(orow ORDER BY orow.created_at, orow.user_id)
                 FROM offer_rows AS orow
                 WHERE orow.cleaning_id = $1
                   AND ($2 = $3 OR orow.user_id = $3)),
                CAST('{}' AS offer_rows[])
            )
        $$
        """
    )
    op.execute(
        """
        CREATE VIEW cleaning_rows AS
        SELECT c.id, c.name, c.description, c.price, c.cleaning_type,
               c.owner AS owner_id, c.created_at, c.updated_at,
               ur AS owner,
               (SELECT count(*) FROM offers AS o WHERE o.cleaning_id = c.id) AS total_offers
        FROM cleanings AS c
        JOIN user_rows AS ur ON ur.id = c.owner
        """
    )


def downgrade() -> None:
    op.execute("DROP VIEW cleaning_rows")
    op.execute("DROP FUNCTION offer_rows_seen_by(bigint, bigint, bigint)")
    op.execute("DROP VIEW offer_rows")
