"""offers_seen_by() and session_ended(): clauses several queries share, written once

Revision ID: a1c3e5f70013
Revises: a1c3e5f70012
Create Date: 2026-12-02 16:00:00

- `offers_seen_by(cleaning_id, owner_id, viewer_id)`: the offers on a cleaning that its
  viewer may see (all of them for the owner, else only the viewer's own), as the JSON array
  of offer cards a CleaningPublic carries. The single cleaning, the owner's list and the
  feed all embed it (sql/cleanings.sql, sql/feed.sql).
- `session_ended(family_id)`: whether a login session (a refresh-token family) was ended,
  which ends its access tokens too; checked by authentication (sql/users.sql).

Both are single-SELECT SQL functions returning one row, STABLE, called in FROM (LATERAL):
the planner inlines such a function into each query that calls it, so the plans (and the
indexes they use) are those of the clauses written out. (A scalar SQL function whose body
has a subquery is never inlined: it would run as a separate function call per row.)
Creating a function takes no lock on any table.
"""

from collections.abc import Sequence

from alembic import op

revision: str = "a1c3e5f70013"
down_revision: str | None = "a1c3e5f70012"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.execute(
        """
        CREATE FUNCTION offers_seen_by(cleaning_id bigint, owner_id bigint, viewer_id bigint)
        RETURNS TABLE (offers json)
        LANGUAGE sql STABLE PARALLEL SAFE ROWS 1
        AS $$
            SELECT COALESCE(
                (SELECT json_agg(oc.card ORDER BY oc.created_at, oc.user_id)
                 FROM offer_cards AS oc
                 WHERE oc.cleaning_id = $1
                   AND ($2 = $3 OR oc.user_id = $3)),
                CAST('[]' AS json)
            )
        $$
        """
    )
    op.execute(
        """
        CREATE FUNCTION session_ended(family_id uuid)
        RETURNS TABLE (ended boolean)
        LANGUAGE sql STABLE PARALLEL SAFE ROWS 1
        AS $$
            SELECT EXISTS (
                SELECT 1
                FROM refresh_tokens AS t
                WHERE t.family_id = $1
                  AND t.revoked_at IS NOT NULL
            )
        $$
        """
    )


def downgrade() -> None:
    op.execute("DROP FUNCTION session_ended(uuid)")
    op.execute("DROP FUNCTION offers_seen_by(bigint, bigint, bigint)")
