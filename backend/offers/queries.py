"""Typed wrappers over `sql/offers.sql`."""

from __future__ import annotations

from datetime import datetime

from backend.core.db import Database
from backend.core.rows import Row
from backend.core.sql import load_queries
from backend.offers.models import OfferPublic, OfferStatus

QUERIES = load_queries("offers")
_q = QUERIES


async def create_offer(db: Database, *, user_id: int, cleaning_id: int) -> OfferPublic:
    row = await db.fetch_row(_q["create_offer"], user_id=user_id, cleaning_id=cleaning_id)
    return OfferPublic.model_validate(dict(row))


async def list_offers_for_cleaning(
    db: Database, *, cleaning_id: int, after_ts: datetime, after_id: int, limit: int
) -> tuple[int, list[Row]] | None:
    """(the cleaning's owner, a page of its offers as rows in OfferPublic's shape), or None
    when there is no such cleaning."""
    rows = await db.fetch_all(
        _q["list_offers_for_cleaning"],
        cleaning_id=cleaning_id,
        after_ts=after_ts,
        after_id=after_id,
        limit=limit,
    )
    if not rows:
        return None
    offers = [row for row in rows if row["user_id"] is not None]
    return rows[0]["cleaning_owner"], offers


async def get_offer(db: Database, *, cleaning_id: int, username: str) -> OfferPublic | None:
    row = await db.fetch_one(_q["get_offer"], cleaning_id=cleaning_id, username=username)
    return None if row is None else OfferPublic.model_validate(dict(row))


async def get_offer_status_for_update(
    db: Database, *, cleaning_id: int, user_id: int
) -> OfferStatus | None:
    status = await db.fetch_value(
        _q["get_offer_status_for_update"], cleaning_id=cleaning_id, user_id=user_id
    )
    return None if status is None else OfferStatus(status)


async def set_offer_status(
    db: Database, *, cleaning_id: int, user_id: int, status: OfferStatus
) -> OfferPublic | None:
    row = await db.fetch_one(
        _q["set_offer_status"], cleaning_id=cleaning_id, user_id=user_id, status=status
    )
    return None if row is None else OfferPublic.model_validate(dict(row))


async def move_offers_between_statuses(
    db: Database, *, cleaning_id: int, from_status: OfferStatus, to_status: OfferStatus
) -> None:
    await db.execute(
        _q["move_offers_between_statuses"],
        cleaning_id=cleaning_id,
        from_status=from_status,
        to_status=to_status,
    )


async def delete_pending_offer(
    db: Database, *, cleaning_id: int, user_id: int
) -> OfferPublic | None:
    row = await db.fetch_one(_q["delete_pending_offer"], cleaning_id=cleaning_id, user_id=user_id)
    return None if row is None else OfferPublic.model_validate(dict(row))
