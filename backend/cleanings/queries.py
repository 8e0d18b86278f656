"""Typed wrappers over `sql/cleanings.sql`."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal

from backend.cleanings.models import LockedCleaning
from backend.core.db import Database, Reader
from backend.core.rows import Row
from backend.core.sql import load_queries

QUERIES = load_queries("cleanings")
_q = QUERIES


async def create_cleaning(
    db: Database,
    *,
    name: str,
    description: str | None,
    price: Decimal,
    cleaning_type: str,
    owner_id: int,
) -> Row:
    """The new cleaning, a row in CleaningPublic's shape."""
    row: Row = await db.fetch_row(
        _q["create_cleaning"],
        name=name,
        description=description,
        price=price,
        cleaning_type=cleaning_type,
        owner_id=owner_id,
    )
    return row


async def get_cleaning_by_id(db: Reader, *, cleaning_id: int, viewer_id: int) -> Row | None:
    """A row in CleaningPublic's shape, or None."""
    return await db.fetch_one(
        _q["get_cleaning_by_id"], cleaning_id=cleaning_id, viewer_id=viewer_id
    )


async def list_cleanings_for_owner(
    db: Database, *, owner_id: int, before_ts: datetime, before_id: int, limit: int
) -> list[Row]:
    """Rows in CleaningPublic's shape (the route writes them with its RowResponder)."""
    return await db.fetch_all(
        _q["list_cleanings_for_owner"],
        owner_id=owner_id,
        before_ts=before_ts,
        before_id=before_id,
        limit=limit,
    )


async def get_cleaning_for_update(db: Database, *, cleaning_id: int) -> LockedCleaning | None:
    row = await db.fetch_one(_q["get_cleaning_for_update"], cleaning_id=cleaning_id)
    return None if row is None else LockedCleaning.model_validate(dict(row))


async def get_cleaning_for_share(db: Database, *, cleaning_id: int) -> LockedCleaning | None:
    row = await db.fetch_one(_q["get_cleaning_for_share"], cleaning_id=cleaning_id)
    return None if row is None else LockedCleaning.model_validate(dict(row))


async def cleaning_has_hired_offer(db: Database, *, cleaning_id: int) -> bool:
    return bool(await db.fetch_value(_q["cleaning_has_hired_offer"], cleaning_id=cleaning_id))


async def update_cleaning(
    db: Database,
    *,
    cleaning_id: int,
    set_name: bool,
    name: str | None,
    set_description: bool,
    description: str | None,
    set_price: bool,
    price: Decimal | None,
    set_cleaning_type: bool,
    cleaning_type: str | None,
) -> None:
    await db.execute(
        _q["update_cleaning"],
        cleaning_id=cleaning_id,
        set_name=set_name,
        name=name,
        set_description=set_description,
        description=description,
        set_price=set_price,
        price=price,
        set_cleaning_type=set_cleaning_type,
        cleaning_type=cleaning_type,
    )


async def delete_cleaning(db: Database, *, cleaning_id: int) -> int | None:
    deleted: int | None = await db.fetch_value(_q["delete_cleaning"], cleaning_id=cleaning_id)
    return deleted


async def get_cleaning_owner(db: Database, *, cleaning_id: int) -> int | None:
    owner: int | None = await db.fetch_value(_q["get_cleaning_owner"], cleaning_id=cleaning_id)
    return owner
