"""Alembic environment: the URL comes from the app's settings; online mode runs over
asyncpg (SQLAlchemy's async engine), so one driver serves the app and the migrations."""

from __future__ import annotations

import asyncio
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from alembic import context
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import create_async_engine

from backend.config import Settings
from backend.core.tables import metadata

config = context.config
target_metadata = metadata


def session_timeouts() -> list[str]:
    """Bounds for every migration, online and in `--sql` output: a DDL statement that waits
    for a lock holds up every query queued behind it, so it gives up after `lock_timeout`
    (retry later) instead of stalling a hot table; `-x lock_timeout=...` to change."""
    options = context.get_x_argument(as_dictionary=True)
    lock_timeout = options.get("lock_timeout", "5s")
    statement_timeout = options.get("statement_timeout", "15min")
    return [
        f"SET lock_timeout = '{lock_timeout}'",
        f"SET statement_timeout = '{statement_timeout}'",
    ]


def database_url() -> str:
    """`-x url=...` wins (tests, scripts); else the app's settings."""
    url = context.get_x_argument(as_dictionary=True).get("url") or Settings().dsn
    return url.replace("postgres://", "postgresql://", 1)


def run_migrations_offline() -> None:
    """`alembic upgrade head --sql`: print the SQL instead of running it."""
    context.configure(
        url=database_url(),
        target_metadata=target_metadata,
        literal_binds=True,
        dialect_opts={"paramstyle": "named"},
    )
    with context.begin_transaction():
        for statement in session_timeouts():
            context.execute(statement)
        context.run_migrations()


def _run_sync(connection: Connection) -> None:
    context.configure(connection=connection, target_metadata=target_metadata)
    with context.begin_transaction():
        for statement in session_timeouts():
            context.execute(statement)
        context.run_migrations()


def async_engine_url(url: str) -> str:
    """SQLAlchemy's asyncpg dialect takes libpq's `sslmode` as asyncpg's `ssl`."""
    parts = urlsplit(url.replace("postgresql://", "postgresql+asyncpg://", 1))
    query = [("ssl" if key == "sslmode" else key, value) for key, value in parse_qsl(parts.query)]
    return urlunsplit(parts._replace(query=urlencode(query)))


async def run_migrations_online() -> None:
    engine = create_async_engine(async_engine_url(database_url()))
    try:
        async with engine.connect() as connection:
            await connection.run_sync(_run_sync)
    finally:
        await engine.dispose()


if context.is_offline_mode():
    run_migrations_offline()
else:
    asyncio.run(run_migrations_online())
