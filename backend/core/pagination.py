"""Keyset pagination: page boundaries as (timestamp, id) cursors, `Link: rel="next"`."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Generic, TypeVar

from starlette.requests import Request

from backend.core.models import Cursor

T = TypeVar("T")

# Bounds that every real row is inside of, so one SQL statement serves the first page too
# (a row comparison with an optional cursor would keep the planner off the index).
NEWEST = Cursor(ts=datetime(9999, 12, 31, tzinfo=UTC), id=2**63 - 1)
OLDEST = Cursor(ts=datetime(1, 1, 2, tzinfo=UTC), id=0)


def start_from(token: str | None, default: Cursor) -> Cursor:
    """The client's cursor, or where the first page starts."""
    return Cursor.decode(token) if token else default


@dataclass(frozen=True, slots=True)
class Page(Generic[T]):
    items: list[T]
    next_cursor: Cursor | None

    def link_headers(self, request: Request, parameter: str = "cursor") -> dict[str, str]:
        """RFC 8288 `Link: <url>; rel="next"` when another page exists."""
        if self.next_cursor is None:
            return {}
        url = request.url.include_query_params(**{parameter: self.next_cursor.encode()})
        return {"Link": f'<{url}>; rel="next"'}


def page_of(rows: Sequence[T], limit: int, position: Callable[[T], Cursor]) -> Page[T]:
    """Rows were fetched with `limit + 1`: the extra row only says another page exists."""
    items = list(rows[:limit])
    more = len(rows) > limit
    return Page(items, position(items[-1]) if more and items else None)
