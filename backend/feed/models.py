"""The activity feed: cleaning create and update events, newest first."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

from pydantic import Field, StringConstraints

from backend.cleanings.models import CleaningPublic
from backend.core.models import RequestModel


class FeedQuery(RequestModel):
    page_chunk_size: Annotated[int, Field(ge=1, le=50)] = 20
    starting_date: datetime | None = None
    cursor: Annotated[str, StringConstraints(max_length=200)] | None = None


class FeedItem(CleaningPublic):
    row_number: int
    event_timestamp: datetime
    event_type: Literal["is_create", "is_update"]
