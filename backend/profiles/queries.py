"""Typed wrappers over `sql/profiles.sql`."""

from __future__ import annotations

from backend.core.db import Database, Reader
from backend.core.sql import load_queries
from backend.profiles.models import ProfilePublic

QUERIES = load_queries("profiles")
_q = QUERIES


async def get_profile_by_username(db: Reader, *, username: str) -> ProfilePublic | None:
    row = await db.fetch_one(_q["get_profile_by_username"], username=username)
    return None if row is None else ProfilePublic.model_validate(dict(row))


async def update_profile(
    db: Database,
    *,
    user_id: int,
    set_full_name: bool,
    full_name: str | None,
    set_phone_number: bool,
    phone_number: str | None,
    set_bio: bool,
    bio: str | None,
    set_image: bool,
    image: str | None,
) -> ProfilePublic | None:
    row = await db.fetch_one(
        _q["update_profile"],
        user_id=user_id,
        set_full_name=set_full_name,
        full_name=full_name,
        set_phone_number=set_phone_number,
        phone_number=phone_number,
        set_bio=set_bio,
        bio=bio,
        set_image=set_image,
        image=image,
    )
    return None if row is None else ProfilePublic.model_validate(dict(row))
