"""password_reset_tokens.expires_at index, built concurrently (for the retention purge)

Revision ID: a1c3e5f70012
Revises: a1c3e5f70011
Create Date: 2026-12-01 23:20:00

`scripts/purge.py` deletes reset tokens by expiry; this index serves it. Built CONCURRENTLY
(docs/MIGRATIONS.md, "Indexes"): writes to the table go on during the build. A concurrent
build cannot run in a transaction, hence the autocommit block; a failed build leaves an
INVALID index, which the revision drops before building again.
"""

from collections.abc import Sequence

from alembic import op

revision: str = "a1c3e5f70012"
down_revision: str | None = "a1c3e5f70011"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

INDEX = "password_reset_tokens_expires_at_idx"


def upgrade() -> None:
    with op.get_context().autocommit_block():
        op.drop_index(INDEX, "password_reset_tokens", postgresql_concurrently=True, if_exists=True)
        op.create_index(
            INDEX,
            "password_reset_tokens",
            ["expires_at"],
            postgresql_concurrently=True,
            if_not_exists=True,
        )


def downgrade() -> None:
    with op.get_context().autocommit_block():
        op.drop_index(INDEX, "password_reset_tokens", postgresql_concurrently=True, if_exists=True)
