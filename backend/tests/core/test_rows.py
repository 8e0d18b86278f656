"""core/rows.py writes list rows exactly as pydantic would (validate the row, dump the model)
for every list response, for every kind of viewer; it refuses what it cannot write."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest
from pydantic import BaseModel, TypeAdapter

from backend.cleanings import queries as cleanings
from backend.cleanings.models import CleaningPublic
from backend.core.models import DateTimeModel
from backend.core.pagination import NEWEST, OLDEST
from backend.core.rows import RowWriter
from backend.evaluations import queries as evaluations
from backend.evaluations.models import EvaluationPublic
from backend.feed import queries as feed
from backend.feed.models import FeedItem
from backend.offers import queries as offers
from backend.offers.models import OfferPublic
from backend.tests.conftest import RunningApp
from backend.tests.factories import as_dicts, create_cleaning, create_offer, create_users, hire

pytestmark = pytest.mark.anyio


def pydantic_json(
    model: type[BaseModel], rows: list[Mapping[str, Any]], viewer: int | None
) -> bytes:
    items = [model.model_validate(as_dicts(row)) for row in rows]
    return TypeAdapter(list[model]).dump_json(items, context={"viewer_id": viewer})  # type: ignore[valid-type]


async def test_every_list_is_written_as_pydantic_writes_it(
    app: RunningApp, client: httpx.AsyncClient, sql
) -> None:
    owner, cleaner, other = await create_users(app.ctx, 3)
    # Values that JSON writers differ on: non-ASCII and control characters, the largest price,
    # a price of no cents, timestamps on a whole second and with trailing zeros in the
    # fraction (PostgreSQL's JSON cards drop those zeros; pydantic prints six digits).
    first = await create_cleaning(
        app.ctx,
        owner,
        name="Ménage \u00e9t\u00e9 \U0001f9f9",
        description="tab\there\nnew",
        price="99999999.99",
    )
    second = await create_cleaning(app.ctx, owner, description=None, price="12")
    await hire(app.ctx, first, owner, cleaner)
    await create_offer(app.ctx, second, other)
    await sql.execute(
        "UPDATE profiles SET full_name = 'Zoë \"Z\" \\ Ø', bio = NULL, "
        "image = 'https://x.test/a.png' WHERE user_id = $1",
        owner.id,
    )
    await sql.execute(
        "UPDATE users SET created_at = '2026-01-02 03:04:05+00', "
        "updated_at = '2026-01-02 03:04:05.25+00' WHERE id = $1",
        owner.id,
    )
    response = await client.post(
        app.url(
            "evaluations:create-evaluation-for-cleaner",
            cleaning_id=str(first.id),
            username=cleaner.username,
        ),
        json={"evaluation_create": {"overall_rating": 4, "headline": "Très bien", "comment": None}},
        headers=owner.headers,
    )
    assert response.status_code == 201, response.text

    db = app.ctx.db
    lists: list[tuple[type[BaseModel], list[Mapping[str, Any]]]] = []
    for viewer in (owner, cleaner, other):
        lists.append(
            (
                FeedItem,
                await feed.list_feed_events(
                    db, before_ts=NEWEST.ts, before_id=NEWEST.id, limit=10, viewer_id=viewer.id
                ),
            )
        )
    lists.append(
        (
            CleaningPublic,
            await cleanings.list_cleanings_for_owner(
                db, owner_id=owner.id, before_ts=NEWEST.ts, before_id=NEWEST.id, limit=10
            ),
        )
    )
    for cleaning in (first, second):
        found = await offers.list_offers_for_cleaning(
            db, cleaning_id=cleaning.id, after_ts=OLDEST.ts, after_id=OLDEST.id, limit=10
        )
        assert found is not None
        lists.append((OfferPublic, found[1]))
    lists.append(
        (
            EvaluationPublic,
            await evaluations.list_evaluations_for_cleaner(
                db, cleaner_id=cleaner.id, before_ts=NEWEST.ts, before_id=NEWEST.id, limit=10
            ),
        )
    )
    for cleaning in (first, second):
        for viewer in (owner, cleaner, other):
            row = await cleanings.get_cleaning_by_id(
                db, cleaning_id=cleaning.id, viewer_id=viewer.id
            )
            assert row is not None
            lists.append((CleaningPublic, [row]))
    for model, rows in lists:
        assert rows, model
        writer = RowWriter(model)
        for viewer_id in (owner.id, cleaner.id, other.id, None):
            assert writer.dumps(rows, viewer_id) == pydantic_json(model, rows, viewer_id), (
                model,
                viewer_id,
            )
            one = model.model_validate(as_dicts(rows[0]))
            expected = one.model_dump_json(context={"viewer_id": viewer_id}).encode()
            assert writer.dumps_one(rows[0], viewer_id) == expected


def test_a_writer_refuses_a_field_it_cannot_write() -> None:
    class Tagged(DateTimeModel):
        tags: dict[str, int]

    with pytest.raises(TypeError, match="cannot write"):
        RowWriter(Tagged)


def test_a_row_without_a_required_column_is_an_error_not_a_null() -> None:
    class Named(DateTimeModel):
        name: str

    now = datetime.now(UTC)
    with pytest.raises(KeyError):
        RowWriter(Named).dumps([{"created_at": now, "updated_at": now}], None)
