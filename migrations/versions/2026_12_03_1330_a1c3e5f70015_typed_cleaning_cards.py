"""offer_rows; cleaning cards with their owner and offers as typed rows, not JSON

Revision ID: a1c3e5f70015
Revises: a1c3e5f70014
Create Date: 2026-12-03 13:30:00

The OfferPublic shape is now defined once, as the `offer_rows` view: the offer's columns
and `user`, its maker's `user_rows` row. What a cleaning response embeds is now typed
values, not JSON:
- `cleaning_cards.owner`: a `user_rows` row (was a JSON card);
- `offers_seen_by()`: an array of `offer_rows` (was a JSON array).

asyncpg decodes them in binary, and `backend/core/rows.py` writes them as it writes any
row. So PostgreSQL builds no JSON text for these responses, and the workers parse none.
`offer_cards` (JSON) had no other user and is dropped.

Function and views are replaced, not altered: a view's column cannot change its type, nor a
function its result type. No other database object depends on them, because the queries that
use them live in `sql/`. Dropping and creating a view or a function takes no lock on any
table. `offers_seen_by()` is still a one-SELECT SQL function, so the planner still inlines it.
"""

from collections.abc import Sequence

from alembic import op

revision: str = "a1c3e5f70015"
down_revision: str | None = "a1c3e5f70014"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

OFFERS_SEEN_BY = """
    CREATE FUNCTION offers_seen_by(cleaning_id bigint, owner_id bigint, viewer_id bigint)
    RETURNS TABLE (offers {result})
    LANGUAGE sql STABLE PARALLEL SAFE ROWS 1
    AS $$
        SELECT COALESCE(
            (SELECT {aggregate}
             FROM {source}
             WHERE oc.cleaning_id = $1
               AND ($2 = $3 OR oc.user_id = $3)),
            CAST({empty} AS {result})
        )
    $$
"""
CLEANING_CARDS = """
    CREATE VIEW cleaning_cards AS
    SELECT c.id, c.name, c.description, c.price, c.cleaning_type,
           c.owner AS owner_id, c.created_at, c.updated_at,
           {owner} AS owner,
           (SELECT count(*) FROM offers AS o WHERE o.cleaning_id = c.id) AS total_offers
    FROM cleanings AS c
    JOIN {users} ON uc.id = c.owner
"""


def upgrade() -> None:
    op.execute(
        """
        CREATE VIEW offer_rows AS
        SELECT o.created_at, o.updated_at, o.user_id, o.cleaning_id, o.status, ur AS user
        FROM offers AS o
        JOIN user_rows AS ur ON ur.id = o.user_id
        """
    )
    op.execute("DROP FUNCTION offers_seen_by(bigint, bigint, bigint)")
    op.execute(
        OFFERS_SEEN_BY.format(
            result="offer_rows[]",
            aggregate="array_agg(oc ORDER BY oc.created_at, oc.user_id)",
            source="offer_rows AS oc",
            empty="'{}'",
        )
    )
    op.execute("DROP VIEW offer_cards")
    op.execute("DROP VIEW cleaning_cards")
    op.execute(CLEANING_CARDS.format(owner="uc", users="user_rows AS uc"))


def downgrade() -> None:
    op.execute("DROP VIEW cleaning_cards")
    op.execute(CLEANING_CARDS.format(owner="uc.card", users="user_cards AS uc"))
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
    op.execute("DROP FUNCTION offers_seen_by(bigint, bigint, bigint)")
    op.execute(
        OFFERS_SEEN_BY.format(
            result="json",
            aggregate="json_agg(oc.card ORDER BY oc.created_at, oc.user_id)",
            source="offer_cards AS oc",
            empty="'[]'",
        )
    )
    op.execute("DROP VIEW offer_rows")
