"""The activity feed: ordering, event types, cursors across timestamp ties, bounds."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest

from backend.tests.conftest import RunningApp
from backend.tests.factories import create_cleaning, create_offer, create_users

pytestmark = pytest.mark.anyio


def next_link(response: httpx.Response) -> str | None:
    match = re.match(r'<([^>]+)>; rel="next"', response.headers.get("link", ""))
    return match.group(1) if match else None


async def test_feed_lists_create_and_update_events_newest_first(
    app: RunningApp, client: httpx.AsyncClient, sql
) -> None:
    owner, viewer = await create_users(app.ctx, 2)
    first = await create_cleaning(app.ctx, owner, name="first")
    second = await create_cleaning(app.ctx, owner, name="second")
    await sql.execute("UPDATE cleanings SET name = 'first, edited' WHERE id = $1", first.id)
    await create_offer(app.ctx, first, viewer)

    response = await client.get(app.url("feed:get-cleaning-feed-for-user"), headers=viewer.headers)
    assert response.status_code == 200
    events = response.json()
    assert [(e["id"], e["event_type"]) for e in events] == [
        (first.id, "is_update"),
        (second.id, "is_create"),
        (first.id, "is_create"),
    ]
    assert [e["row_number"] for e in events] == [1, 2, 3]
    assert events[0]["name"] == "first, edited"
    assert events[0]["owner"]["username"] == owner.username
    assert events[0]["owner"]["email"] is None
    assert events[0]["total_offers"] == 1
    assert [o["user_id"] for o in events[0]["offers"]] == [viewer.id]
    timestamps = [e["event_timestamp"] for e in events]
    assert timestamps == sorted(timestamps, reverse=True)
    assert "link" not in response.headers


@pytest.mark.slow
async def test_cursor_paging_visits_every_event_exactly_once_across_ties(
    app: RunningApp, client: httpx.AsyncClient, sql
) -> None:
    owner, viewer = await create_users(app.ctx, 2)
    async with sql.transaction():  # 300 cleanings sharing one created_at
        ids = await sql.fetch(
            "INSERT INTO cleanings (name, price, owner) "
            "SELECT 'c' || n, 10, $1 FROM generate_series(1, 300) AS n RETURNING id",
            owner.id,
        )
    async with sql.transaction():  # 100 of them updated together: one shared updated_at
        await sql.execute(
            "UPDATE cleanings SET price = 11 WHERE id = ANY($1)", [r["id"] for r in ids[::3]]
        )
    expected = await sql.fetch(
        """
        SELECT id, created_at AS ts, 'is_create' AS kind FROM cleanings
        UNION ALL
        SELECT id, updated_at, 'is_update' FROM cleanings WHERE updated_at <> created_at
        ORDER BY ts DESC, id DESC
        """
    )
    seen: list[tuple[int, str]] = []
    url: str | None = app.url("feed:get-cleaning-feed-for-user") + "?page_chunk_size=7"
    while url:
        response = await client.get(url, headers=viewer.headers)
        assert response.status_code == 200
        page = response.json()
        assert len(page) <= 7
        seen += [(e["id"], e["event_type"]) for e in page]
        url = next_link(response)
    assert len(expected) == 400
    assert seen == [(row["id"], row["kind"]) for row in expected]


async def test_starting_date_returns_strictly_older_events(
    app: RunningApp, client: httpx.AsyncClient, sql
) -> None:
    owner, viewer = await create_users(app.ctx, 2)
    old = await create_cleaning(app.ctx, owner)
    new = await create_cleaning(app.ctx, owner)
    cutoff = datetime(2020, 1, 1, tzinfo=UTC)
    await sql.execute(
        "UPDATE cleanings SET created_at = $1, updated_at = $1 WHERE id = $2",
        cutoff - timedelta(days=1),
        old.id,
    )
    await sql.execute(
        "UPDATE cleanings SET created_at = $1, updated_at = $1 WHERE id = $2", cutoff, new.id
    )
    response = await client.get(
        app.url("feed:get-cleaning-feed-for-user"),
        params={"starting_date": cutoff.isoformat()},
        headers=viewer.headers,
    )
    assert [e["id"] for e in response.json()] == [old.id]
    naive = await client.get(
        app.url("feed:get-cleaning-feed-for-user"),
        params={"starting_date": "2020-01-01T00:00:00"},
        headers=viewer.headers,
    )
    assert [e["id"] for e in naive.json()] == [old.id]


@pytest.mark.parametrize(
    "params",
    [
        {"page_chunk_size": 0},
        {"page_chunk_size": 51},
        {"starting_date": "yesterday"},
        {"cursor": "!!"},
    ],
)
async def test_feed_rejects_bad_parameters(
    app: RunningApp, client: httpx.AsyncClient, params: dict[str, Any]
) -> None:
    (viewer,) = await create_users(app.ctx, 1)
    response = await client.get(
        app.url("feed:get-cleaning-feed-for-user"), params=params, headers=viewer.headers
    )
    assert response.status_code == 422


async def test_feed_requires_auth(app: RunningApp, client: httpx.AsyncClient) -> None:
    assert (await client.get(app.url("feed:get-cleaning-feed-for-user"))).status_code == 401
