"""Migrations: a full round trip, and the migrated schema equals the table definitions."""

from __future__ import annotations

import warnings
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

import asyncpg
import pytest
import sqlalchemy as sa
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy.ext.asyncio import create_async_engine

from backend.core.tables import metadata
from backend.tests.conftest import run_migrations

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
