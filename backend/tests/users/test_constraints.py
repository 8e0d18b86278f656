"""What the database itself guarantees for users, whatever the application does."""

from __future__ import annotations

import asyncpg
import pytest

pytestmark = pytest.mark.anyio

INSERT = "INSERT INTO users (username, email, password) VALUES ($1, $2, 'x') RETURNING id"


async def test_username_and_email_are_unique_case_insensitively(sql: asyncpg.Connection) -> None:
    await sql.fetchval(INSERT, "Alice", "Alice@Example.com")
    with pytest.raises(asyncpg.UniqueViolationError, match="users_username_lower_key"):
        await sql.fetchval(INSERT, "alice", "other@example.com")
    with pytest.raises(asyncpg.UniqueViolationError, match="users_email_lower_key"):
        await sql.fetchval(INSERT, "bob", "alice@example.COM")


@pytest.mark.parametrize(
    ("username", "email"),
    [("a b", "x@example.com"), ("ab", "x@example.com"), ("abc", "no-at-sign")],
)
async def test_username_and_email_checks(
    sql: asyncpg.Connection, username: str, email: str
) -> None:
    with pytest.raises(asyncpg.CheckViolationError):
        await sql.fetchval(INSERT, username, email)


async def test_one_profile_per_user(sql: asyncpg.Connection) -> None:
    user_id = await sql.fetchval(INSERT, "carol", "carol@example.com")
    await sql.execute("INSERT INTO profiles (user_id) VALUES ($1)", user_id)
    with pytest.raises(asyncpg.UniqueViolationError, match="profiles_user_id_key"):
        await sql.execute("INSERT INTO profiles (user_id) VALUES ($1)", user_id)


async def test_updated_at_moves_on_update(sql: asyncpg.Connection) -> None:
    user_id = await sql.fetchval(INSERT, "dave", "dave@example.com")
    async with sql.transaction():
        await sql.execute("UPDATE users SET email_verified = true WHERE id = $1", user_id)
    created, updated = await sql.fetchrow(
        "SELECT created_at, updated_at FROM users WHERE id = $1", user_id
    )
    assert updated > created
