"""cleanings.description at most 5000 characters, enforced by the database (expand step)

Revision ID: a1c3e5f70011
Revises: a1c3e5f70010
Create Date: 2026-12-01 23:10:00

The API has always refused descriptions over 5000 characters; now the database does too,
so no other writer (a script, psql) can store one. `cleanings` is the hot table, so this is
done the way that never blocks it (docs/MIGRATIONS.md, "A constraint on a hot table"):

1. ADD CONSTRAINT ... NOT VALID: new writes are checked at once; the lock it needs is
   brief (no scan of existing rows) and bounded by `lock_timeout` (migrations/env.py).
2. VALIDATE CONSTRAINT in its own transaction: it scans the table under SHARE UPDATE
   EXCLUSIVE, a lock that lets reads and writes go on.

Any existing row over the limit makes step 2 fail, leaving the constraint NOT VALID (still
checking new writes); shorten those rows, then run the upgrade again.
"""

from collections.abc import Sequence

from alembic import op

revision: str = "a1c3e5f70011"
down_revision: str | None = "a1c3e5f70010"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # Re-runnable: if VALIDATE failed on a first run, the NOT VALID constraint is still there.
    op.execute("ALTER TABLE cleanings DROP CONSTRAINT IF EXISTS cleanings_description_check")
    op.execute(
        "ALTER TABLE cleanings ADD CONSTRAINT cleanings_description_check "
        "CHECK (char_length(description) <= 5000) NOT VALID"
    )
    with op.get_context().autocommit_block():
        op.execute("ALTER TABLE cleanings VALIDATE CONSTRAINT cleanings_description_check")


def downgrade() -> None:
    op.execute("ALTER TABLE cleanings DROP CONSTRAINT IF EXISTS cleanings_description_check")
