"""Typed wrappers over `sql/feed.sql`."""

from __future__ import annotations

from datetime import datetime

from backend.core.db import Reader
from backend.core.rows import Row
from backend.core.sql import load_queries

QUERIES = load_queries("feed")
_q = QUERIES


async def list_feed_events(
    db: Reader, *, before_ts: datetime, before_id: int, limit: int, viewer_id: int
) -> list[Row]:
    """Rows in FeedItem's shape (the route writes them with its RowResponder)."""
    return await db.fetch_all(
        _q["list_feed_events"],
        before_ts=before_ts,
        before_id=before_id,
        limit=limit,
        viewer_id=viewer_id,
    )
