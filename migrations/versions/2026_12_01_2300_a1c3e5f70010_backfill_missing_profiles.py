"""backfill missing profiles (data migration)

Revision ID: a1c3e5f70010
Revises: a1c3e5f70009
Create Date: 2026-12-01 23:00:00

Every user needs a profile: authentication and every embedded user card join on it, so a
user without one (inserted by hand with psql, or imported from another copy of the
tutorial's database) could not even log in. The app creates the profile with the user in
one transaction; this repairs rows that came in another way.

The data-migration pattern (docs/MIGRATIONS.md): its own revision, no schema change;
idempotent (a second run inserts nothing); in batches, each a short statement that takes
only row locks, so a large table keeps serving; no downgrade (which profiles were
backfilled is not knowable, and an empty profile is harmless).
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import context, op

revision: str = "a1c3e5f70010"
down_revision: str | None = "a1c3e5f70009"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

BATCH_SIZE = 5000
BACKFILL_BATCH = """
INSERT INTO profiles (user_id)
SELECT u.id
FROM users AS u
WHERE NOT EXISTS (SELECT 1 FROM profiles AS p WHERE p.user_id = u.id)
ORDER BY u.id
LIMIT {limit}
ON CONFLICT (user_id) DO NOTHING
"""


def upgrade() -> None:
    if context.is_offline_mode():  # `--sql`: one statement, nothing to loop over
        op.execute(BACKFILL_BATCH.format(limit="ALL"))
        return
    connection = op.get_bind()
    while connection.execute(sa.text(BACKFILL_BATCH.format(limit=BATCH_SIZE))).rowcount:
        pass


def downgrade() -> None:
    """Nothing to undo: the backfilled profiles are ordinary, empty profiles."""
