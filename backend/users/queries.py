"""Typed wrappers over `sql/users.sql` (same names; the caller owns transactions)."""

from __future__ import annotations

from typing import cast
from uuid import UUID

from backend.core.auth import Account
from backend.core.db import Database, Reader
from backend.core.sql import load_queries
from backend.users.models import (
    PasswordCheck,
    RateLimitWindow,
    UserCredentials,
    UserIdentity,
    UserRow,
)

QUERIES = load_queries("users")
_q = QUERIES
# Folded into a request's first read (core/auth.py), never run on its own: no wrapper.
CALLER_STILL_VALID = _q["caller_still_valid"]


async def create_user(db: Database, *, username: str, email: str, password: str) -> int:
    row = await db.fetch_row(_q["create_user"], username=username, email=email, password=password)
    return cast(int, row["id"])


async def create_profile_for_user(db: Database, *, user_id: int) -> None:
    await db.execute(_q["create_profile_for_user"], user_id=user_id)


async def get_current_user(db: Database, *, user_id: int, family_id: str | None) -> Account | None:
    """Authentication's check on its own (`backend.core.auth`'s loader)."""
    row = await db.fetch_one(_q["get_current_user"], user_id=user_id, family_id=family_id)
    return None if row is None else Account(row["id"], row["is_active"], row["token_version"])


async def get_user_by_id(db: Database, *, user_id: int) -> UserRow | None:
    row = await db.fetch_one(_q["get_user_by_id"], user_id=user_id)
    return (
        None
        if row is None
        else UserRow.model_validate({**row["card"], "token_version": row["token_version"]})
    )


async def get_user_credentials_by_email(db: Database, *, email: str) -> UserCredentials | None:
    row = await db.fetch_one(_q["get_user_credentials_by_email"], email=email)
    return None if row is None else UserCredentials.model_validate(dict(row))


async def get_user_id_by_email(db: Database, *, email: str) -> int | None:
    return cast(int | None, await db.fetch_value(_q["get_user_id_by_email"], email=email))


async def get_user_id_by_username(db: Reader, *, username: str) -> int | None:
    return cast(int | None, await db.fetch_value(_q["get_user_id_by_username"], username=username))


async def get_password_check_by_user_id(db: Database, *, user_id: int) -> PasswordCheck | None:
    row = await db.fetch_one(_q["get_password_check_by_user_id"], user_id=user_id)
    return None if row is None else PasswordCheck.model_validate(dict(row))


async def update_password_hash(db: Database, *, user_id: int, password: str) -> None:
    await db.execute(_q["update_password_hash"], user_id=user_id, password=password)


async def change_password(db: Database, *, user_id: int, password: str) -> int | None:
    return cast(
        int | None, await db.fetch_value(_q["change_password"], user_id=user_id, password=password)
    )


async def delete_user(db: Database, *, user_id: int) -> int | None:
    return cast(int | None, await db.fetch_value(_q["delete_user"], user_id=user_id))


async def create_refresh_token(
    db: Database, *, user_id: int, family_id: UUID, token_hash: bytes, expire_days: int
) -> None:
    await db.execute(
        _q["create_refresh_token"],
        user_id=user_id,
        family_id=family_id,
        token_hash=token_hash,
        expire_days=expire_days,
    )


async def use_refresh_token(db: Database, *, token_hash: bytes) -> tuple[int, UUID] | None:
    row = await db.fetch_one(_q["use_refresh_token"], token_hash=token_hash)
    return None if row is None else (row["user_id"], row["family_id"])


async def get_refresh_token_family(db: Database, *, token_hash: bytes) -> UUID | None:
    return cast(
        UUID | None, await db.fetch_value(_q["get_refresh_token_family"], token_hash=token_hash)
    )


async def revoke_refresh_token_family(db: Database, *, family_id: UUID) -> None:
    await db.execute(_q["revoke_refresh_token_family"], family_id=family_id)


async def revoke_refresh_tokens_for_user(db: Database, *, user_id: int) -> None:
    await db.execute(_q["revoke_refresh_tokens_for_user"], user_id=user_id)


async def delete_expired_refresh_tokens(db: Database) -> None:
    await db.execute(_q["delete_expired_refresh_tokens"])


async def create_password_reset_token(
    db: Database, *, user_id: int, token_hash: bytes, expire_minutes: int
) -> None:
    await db.execute(
        _q["create_password_reset_token"],
        user_id=user_id,
        token_hash=token_hash,
        expire_minutes=expire_minutes,
    )


async def use_password_reset_token(db: Database, *, token_hash: bytes) -> UserIdentity | None:
    row = await db.fetch_one(_q["use_password_reset_token"], token_hash=token_hash)
    return None if row is None else UserIdentity.model_validate(dict(row))


async def hit_rate_limit(db: Database, *, bucket: str, window_seconds: int) -> RateLimitWindow:
    row = await db.fetch_row(_q["hit_rate_limit"], bucket=bucket, window_seconds=window_seconds)
    return RateLimitWindow(hits=row["hits"], retry_after=row["retry_after"])


async def get_rate_limit_hits(db: Database, *, bucket: str, window_seconds: int) -> RateLimitWindow:
    row = await db.fetch_row(
        _q["get_rate_limit_hits"], bucket=bucket, window_seconds=window_seconds
    )
    return RateLimitWindow(hits=row["hits"], retry_after=row["retry_after"])


async def clear_rate_limit(db: Database, *, bucket: str) -> None:
    await db.execute(_q["clear_rate_limit"], bucket=bucket)


async def delete_expired_rate_limits(db: Database) -> None:
    await db.execute(_q["delete_expired_rate_limits"])


async def purge_expired_refresh_tokens(db: Database) -> int:
    return cast(int, await db.fetch_value(_q["purge_expired_refresh_tokens"]))


async def purge_expired_password_reset_tokens(db: Database) -> int:
    return cast(int, await db.fetch_value(_q["purge_expired_password_reset_tokens"]))


async def purge_expired_rate_limits(db: Database) -> int:
    return cast(int, await db.fetch_value(_q["purge_expired_rate_limits"]))
