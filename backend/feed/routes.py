"""`/api/feed`: the global activity feed of cleanings."""

from __future__ import annotations

from datetime import UTC

from starlette.requests import Request
from starlette.responses import Response

from backend.core.auth import CurrentUser
from backend.core.context import app_context
from backend.core.http import RowResponder
from backend.core.models import Cursor
from backend.core.openapi import Doc
from backend.core.pagination import NEWEST, page_of
from backend.core.routing import Routes
from backend.feed import queries
from backend.feed.models import FeedItem, FeedQuery

routes = Routes("/api/feed", namespace="feed")
feed_rows = RowResponder(FeedItem)


def feed_start(query: FeedQuery) -> Cursor:
    """A cursor wins; else events strictly older than `starting_date`; else everything up
    to the request (no upper bound: nothing newer exists yet)."""
    if query.cursor:
        return Cursor.decode(query.cursor)
    if query.starting_date is not None:
        starting = query.starting_date
        if starting.tzinfo is None:  # a naive date is read as UTC
            starting = starting.replace(tzinfo=UTC)
        return Cursor(ts=starting, id=0)
    return NEWEST


@routes.get(
    "/cleanings/",
    "get-cleaning-feed-for-user",
    Doc(
        "Activity feed of cleanings (create and update events), newest first",
        {200: list[FeedItem]},
        query=FeedQuery,
    ),
)
async def cleanings_feed(request: Request, user: CurrentUser, query: FeedQuery) -> Response:
    start = feed_start(query)
    rows = await queries.list_feed_events(
        app_context(request).reads,
        before_ts=start.ts,
        before_id=start.id,
        limit=query.page_chunk_size + 1,
        viewer_id=user.id,
    )
    page = page_of(
        rows, query.page_chunk_size, lambda e: Cursor(ts=e["event_timestamp"], id=e["id"])
    )
    return feed_rows.list(page.items, viewer_id=user.id, headers=page.link_headers(request))
