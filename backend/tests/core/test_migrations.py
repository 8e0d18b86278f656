"""Migrations: a full round trip, a stairway with rows, the example data and expand
migrations, the linter, and the migrated schema equals the table definitions (drift)."""

from __future__ import annotations

import re
import warnings
from functools import partial
from pathlib import Path
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

import asyncpg
import pytest
import sqlalchemy as sa
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy.ext.asyncio import create_async_engine

from backend.core.schema import MIGRATIONS_DIR
from backend.core.tables import metadata
from backend.tests.conftest import ROOT, run_migrations

pytestmark = pytest.mark.anyio


async def schema_diff(url: str, target: sa.MetaData) -> list[object]:
    parts = urlsplit(url.replace("postgresql://", "postgresql+asyncpg://", 1))
    query = [("ssl" if key == "sslmode" else key, value) for key, value in parse_qsl(parts.query)]
    engine = create_async_engine(urlunsplit(parts._replace(query=urlencode(query))))

    def compare(connection: sa.Connection) -> list[object]:
        context = MigrationContext.configure(
            connection, opts={"compare_type": True, "compare_server_default": True}
        )
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # alembic notes it cannot compare expression indexes
            return list(compare_metadata(context, target))

    try:
        async with engine.connect() as connection:
            return await connection.run_sync(compare)
    finally:
        await engine.dispose()


async def table_names(url: str) -> set[str]:
    connection = await asyncpg.connect(url)
    try:
        rows = await connection.fetch("SELECT tablename FROM pg_tables WHERE schemaname = 'public'")
    finally:
        await connection.close()
    return {row["tablename"] for row in rows}


@pytest.mark.slow
async def test_upgrade_downgrade_upgrade_round_trip(empty_database: str) -> None:
    import anyio.to_thread

    await anyio.to_thread.run_sync(run_migrations, empty_database)
    assert {"users", "profiles", "cleanings", "offers", "evaluations"} <= await table_names(
        empty_database
    )
    await anyio.to_thread.run_sync(lambda: run_migrations(empty_database, "base", downgrade=True))
    assert await table_names(empty_database) == {"alembic_version"}
    await anyio.to_thread.run_sync(run_migrations, empty_database)
    assert await schema_diff(empty_database, metadata) == []


async def test_migrated_schema_matches_the_table_definitions(db_url: str) -> None:
    assert await schema_diff(db_url, metadata) == []


async def test_the_drift_check_notices_a_difference(db_url: str) -> None:
    drifted = sa.MetaData()
    for table in metadata.sorted_tables:
        table.to_metadata(drifted)
    sa.Table("cleanings", drifted, sa.Column("colour", sa.Text), extend_existing=True)
    diff = await schema_diff(db_url, drifted)
    assert any("colour" in repr(item) for item in diff)


# One row per table, inserted as soon as the table exists (so every later step of the
# stairway runs on a non-empty table). Users come first; the rest refer to user 1 and
# cleaning 1 when they need a parent row.
SEED_ROWS = {
    "users": "INSERT INTO users (username, email, password) "
    "VALUES ('stair', 'stair@example.com', 'x'), ('step', 'step@example.com', 'x')",
    "profiles": "INSERT INTO profiles (user_id) SELECT id FROM users WHERE username = 'stair' "
    "ON CONFLICT DO NOTHING",
    "cleanings": "INSERT INTO cleanings (name, price, owner) "
    "SELECT 'Stair clean', 12.5, id FROM users WHERE username = 'stair'",
    "offers": "INSERT INTO offers (user_id, cleaning_id, status) "
    "SELECT u.id, c.id, 'accepted' FROM users u, cleanings c WHERE u.username = 'step'",
    "evaluations": "INSERT INTO evaluations (cleaning_id, cleaner_id, overall_rating) "
    "SELECT c.id, u.id, 4 FROM users u, cleanings c WHERE u.username = 'step'",
    "refresh_tokens": "INSERT INTO refresh_tokens (user_id, family_id, token_hash, expires_at) "
    "SELECT id, gen_random_uuid(), 'r', now() + interval '1 day' FROM users "
    "WHERE username = 'stair'",
    "password_reset_tokens": "INSERT INTO password_reset_tokens (user_id, token_hash, expires_at) "
    "SELECT id, 'p', now() + interval '1 hour' FROM users WHERE username = 'stair'",
    "rate_limit_counters": "INSERT INTO rate_limit_counters (bucket, window_start, expires_at) "
    "VALUES ('login:stair', now(), now() + interval '1 minute')",
}


async def row_counts(url: str) -> dict[str, int]:
    connection = await asyncpg.connect(url)
    try:
        present = await connection.fetch(
            "SELECT tablename FROM pg_tables WHERE schemaname = 'public'"
        )
        return {
            row["tablename"]: await connection.fetchval(
                f'SELECT count(*) FROM "{row["tablename"]}"'  # noqa: S608
            )
            for row in present
            if row["tablename"] != "alembic_version"
        }
    finally:
        await connection.close()


async def seed_new_tables(url: str, seeded: set[str]) -> None:
    connection = await asyncpg.connect(url)
    try:
        present = {
            r["tablename"] for r in await connection.fetch("SELECT tablename FROM pg_tables")
        }
        for table, statement in SEED_ROWS.items():
            if table in present and table not in seeded:
                await connection.execute(statement)
                seeded.add(table)
    finally:
        await connection.close()


@pytest.mark.slow
async def test_stairway_every_revision_down_one_and_up_again_with_rows(
    empty_database: str,
) -> None:
    """Each revision: upgrade, put rows in every table, downgrade one step, upgrade again.
    Catches a downgrade that fails on data, or an upgrade that cannot be re-applied."""
    import anyio.to_thread

    scripts = ScriptDirectory(str(MIGRATIONS_DIR))
    revisions = list(reversed(list(scripts.walk_revisions())))
    seeded: set[str] = set()
    for script in revisions:
        await anyio.to_thread.run_sync(run_migrations, empty_database, script.revision)
        await seed_new_tables(empty_database, seeded)
        before = await row_counts(empty_database)
        down = script.down_revision or "base"
        assert isinstance(down, str)
        await anyio.to_thread.run_sync(
            partial(run_migrations, empty_database, down, downgrade=True)
        )
        await anyio.to_thread.run_sync(run_migrations, empty_database, script.revision)
        after = await row_counts(empty_database)
        kept = {t: n for t, n in before.items() if t in after and t not in created_by(script)}
        assert {t: after[t] for t in kept} == kept, script.revision
    assert seeded == set(SEED_ROWS)
    assert await schema_diff(empty_database, metadata) == []


def created_by(script: object) -> set[str]:
    """Tables a revision creates (a downgrade of it drops them with their rows, rightly)."""
    source = Path(getattr(script, "path", "")).read_text()
    return set(re.findall(r'op\.create_table\(\s*"(\w+)"', source))


async def test_the_profile_backfill_repairs_users_without_a_profile(empty_database: str) -> None:
    import anyio.to_thread

    await anyio.to_thread.run_sync(run_migrations, empty_database, "a1c3e5f70009")
    connection = await asyncpg.connect(empty_database)
    try:
        await connection.execute(
            "INSERT INTO users (username, email, password) "
            "SELECT 'hand' || g, 'hand' || g || '@example.com', 'x' FROM generate_series(1, 12) g"
        )
        await connection.execute(
            "INSERT INTO profiles (user_id, full_name) "
            "SELECT id, 'Kept' FROM users WHERE username = 'hand1'"
        )
        await anyio.to_thread.run_sync(run_migrations, empty_database, "a1c3e5f70010")
        assert await connection.fetchval("SELECT count(*) FROM profiles") == 12
        kept = "SELECT full_name FROM profiles p JOIN users u ON u.id = p.user_id"
        assert await connection.fetchval(kept + " WHERE username = 'hand1'") == "Kept"
        # idempotent: running it again (down is a no-op, then up) inserts nothing
        await anyio.to_thread.run_sync(
            lambda: run_migrations(empty_database, "a1c3e5f70009", downgrade=True)
        )
        await anyio.to_thread.run_sync(run_migrations, empty_database, "a1c3e5f70010")
        assert await connection.fetchval("SELECT count(*) FROM profiles") == 12
    finally:
        await connection.close()


async def test_the_description_check_refuses_long_rows_and_keeps_checking_new_writes(
    empty_database: str,
) -> None:
    """The expand step: an existing row over the limit makes VALIDATE fail, while the NOT
    VALID constraint already checks new writes; once the row is fixed, the upgrade re-runs."""
    import anyio.to_thread

    await anyio.to_thread.run_sync(run_migrations, empty_database, "a1c3e5f70010")
    connection = await asyncpg.connect(empty_database)
    try:
        owner = await connection.fetchval(
            "INSERT INTO users (username, email, password) "
            "VALUES ('own', 'own@example.com', 'x') RETURNING id"
        )
        long_row = await connection.fetchval(
            "INSERT INTO cleanings (name, price, owner, description) "
            "VALUES ('Long', 1, $1, repeat('x', 5001)) RETURNING id",
            owner,
        )
        with pytest.raises(Exception, match="cleanings_description_check"):
            await anyio.to_thread.run_sync(run_migrations, empty_database, "a1c3e5f70011")
        with pytest.raises(asyncpg.CheckViolationError):
            await connection.execute(
                "INSERT INTO cleanings (name, price, owner, description) "
                "VALUES ('New', 1, $1, repeat('x', 5001))",
                owner,
            )
        await connection.execute(
            "UPDATE cleanings SET description = left(description, 5000) WHERE id = $1", long_row
        )
        await anyio.to_thread.run_sync(run_migrations, empty_database, "a1c3e5f70011")
        validated = await connection.fetchval(
            "SELECT convalidated FROM pg_constraint WHERE conname = 'cleanings_description_check'"
        )
        assert validated is True
    finally:
        await connection.close()


def test_the_migration_linter_flags_a_blocking_statement(tmp_path: Path) -> None:
    import importlib.util

    spec = importlib.util.spec_from_file_location("lint", ROOT / "scripts" / "lint_migrations.py")
    assert spec is not None and spec.loader is not None
    linter = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(linter)
    assert linter.lint(
        "ok",
        "SET lock_timeout = '1s';\nSET statement_timeout = '1min';\n"
        "CREATE INDEX CONCURRENTLY IF NOT EXISTS a_idx ON cleanings (name);\n",
    )
    assert not linter.lint("bad", "CREATE INDEX a_idx ON cleanings (name);\n")
