"""The offer state machine through HTTP, and its concurrency guarantees."""

from __future__ import annotations

import asyncio

import asyncpg
import httpx
import pytest

from backend.tests.conftest import RunningApp
from backend.tests.factories import (
    UserFixture,
    create_cleaning,
    create_offer,
    create_user,
    create_users,
)

pytestmark = pytest.mark.anyio


def offers_url(app: RunningApp, cleaning_id: int, username: str | None = None) -> str:
    if username is None:
        return app.url("offers:create-offer", cleaning_id=str(cleaning_id))
    return app.url("offers:get-offer-from-user", cleaning_id=str(cleaning_id), username=username)


async def statuses(sql: asyncpg.Connection, cleaning_id: int) -> dict[int, str]:
    rows = await sql.fetch("SELECT user_id, status FROM offers WHERE cleaning_id = $1", cleaning_id)
    return {row["user_id"]: row["status"] for row in rows}


async def test_create_offer(app: RunningApp, client: httpx.AsyncClient) -> None:
    owner, cleaner = await create_users(app.ctx, 2)
    cleaning = await create_cleaning(app.ctx, owner)
    response = await client.post(offers_url(app, cleaning.id), headers=cleaner.headers)
    assert response.status_code == 201
    offer = response.json()
    assert offer["status"] == "pending"
    assert offer["user_id"] == cleaner.id
    assert offer["cleaning_id"] == cleaning.id
    assert offer["user"]["username"] == cleaner.username


async def test_create_offer_errors(app: RunningApp, client: httpx.AsyncClient) -> None:
    owner, cleaner = await create_users(app.ctx, 2)
    cleaning = await create_cleaning(app.ctx, owner)
    own = await client.post(offers_url(app, cleaning.id), headers=owner.headers)
    assert own.status_code == 400
    assert own.json()["detail"] == "Users are unable to create offers for cleaning jobs they own."
    assert (
        await client.post(offers_url(app, cleaning.id), headers=cleaner.headers)
    ).status_code == 201
    twice = await client.post(offers_url(app, cleaning.id), headers=cleaner.headers)
    assert twice.status_code == 400
    assert (
        twice.json()["detail"]
        == "Users aren't allowed create more than one offer for a cleaning job."
    )
    assert (await client.post(offers_url(app, 999999), headers=cleaner.headers)).status_code == 404
    assert (await client.post(offers_url(app, 0), headers=cleaner.headers)).status_code == 422
    assert (await client.post(offers_url(app, cleaning.id))).status_code == 401


async def test_no_new_offers_once_someone_is_hired(
    app: RunningApp, client: httpx.AsyncClient
) -> None:
    owner, hired, late = await create_users(app.ctx, 3)
    cleaning = await create_cleaning(app.ctx, owner)
    await create_offer(app.ctx, cleaning, hired)
    assert (
        await client.put(offers_url(app, cleaning.id, hired.username), headers=owner.headers)
    ).status_code == 200
    response = await client.post(offers_url(app, cleaning.id), headers=late.headers)
    assert response.status_code == 400
    assert response.json()["detail"] == "That cleaning job already has an accepted offer."


async def test_list_offers_owner_only(app: RunningApp, client: httpx.AsyncClient) -> None:
    owner, *cleaners = await create_users(app.ctx, 4)
    cleaning = await create_cleaning(app.ctx, owner)
    for cleaner in cleaners:
        await create_offer(app.ctx, cleaning, cleaner)
    response = await client.get(offers_url(app, cleaning.id), headers=owner.headers)
    assert response.status_code == 200
    assert [o["user_id"] for o in response.json()] == [c.id for c in cleaners]
    assert all(o["user"]["username"] for o in response.json())
    forbidden = await client.get(offers_url(app, cleaning.id), headers=cleaners[0].headers)
    assert forbidden.status_code == 403
    assert forbidden.json()["detail"] == "Unable to access offers."
    assert (await client.get(offers_url(app, 999999), headers=owner.headers)).status_code == 404
    paged = await client.get(offers_url(app, cleaning.id) + "?limit=2", headers=owner.headers)
    assert len(paged.json()) == 2
    assert 'rel="next"' in paged.headers["link"]
    rest = await client.get(paged.links["next"]["url"], headers=owner.headers)
    assert [o["user_id"] for o in rest.json()] == [cleaners[2].id]
    assert "link" not in rest.headers


async def test_list_offers_of_a_cleaning_without_offers(
    app: RunningApp, client: httpx.AsyncClient
) -> None:
    """The owner check and the page are one statement: a cleaning with no offers is still
    found (an empty list for its owner, 403 for anyone else)."""
    owner, stranger = await create_users(app.ctx, 2)
    cleaning = await create_cleaning(app.ctx, owner)
    empty = await client.get(offers_url(app, cleaning.id), headers=owner.headers)
    assert (empty.status_code, empty.json()) == (200, [])
    assert (
        await client.get(offers_url(app, cleaning.id), headers=stranger.headers)
    ).status_code == 403


async def test_get_one_offer(app: RunningApp, client: httpx.AsyncClient) -> None:
    owner, cleaner, stranger = await create_users(app.ctx, 3)
    cleaning = await create_cleaning(app.ctx, owner)
    await create_offer(app.ctx, cleaning, cleaner)
    url = offers_url(app, cleaning.id, cleaner.username)
    assert (await client.get(url, headers=owner.headers)).json()["user_id"] == cleaner.id
    own = await client.get(url, headers=cleaner.headers)
    assert own.status_code == 200
    assert own.json()["user"]["email"] == cleaner.email
    forbidden = await client.get(url, headers=stranger.headers)
    assert forbidden.status_code == 403
    assert forbidden.json()["detail"] == "Unable to access offer."
    missing = await client.get(
        offers_url(app, cleaning.id, stranger.username), headers=owner.headers
    )
    assert missing.status_code == 404


async def test_accept_rejects_the_others_and_cancel_reopens_them(
    app: RunningApp, client: httpx.AsyncClient, sql
) -> None:
    owner, first, second, third = await create_users(app.ctx, 4)
    cleaning = await create_cleaning(app.ctx, owner)
    for cleaner in (first, second, third):
        await create_offer(app.ctx, cleaning, cleaner)

    not_owner = await client.put(
        offers_url(app, cleaning.id, first.username), headers=second.headers
    )
    assert not_owner.status_code == 403
    assert not_owner.json()["detail"] == "Only the owner of the cleaning may accept offers."

    accepted = await client.put(offers_url(app, cleaning.id, first.username), headers=owner.headers)
    assert accepted.status_code == 200
    assert accepted.json()["status"] == "accepted"
    assert await statuses(sql, cleaning.id) == {
        first.id: "accepted",
        second.id: "rejected",
        third.id: "rejected",
    }

    again = await client.put(offers_url(app, cleaning.id, second.username), headers=owner.headers)
    assert again.status_code == 400
    assert again.json()["detail"] == "Can only accept offers that are currently pending."

    not_accepted = await client.put(offers_url(app, cleaning.id), headers=second.headers)
    assert not_accepted.status_code == 400
    assert not_accepted.json()["detail"] == "Can only cancel offers that have been accepted."

    cancelled = await client.put(offers_url(app, cleaning.id), headers=first.headers)
    assert cancelled.status_code == 200
    assert cancelled.json()["status"] == "cancelled"
    assert await statuses(sql, cleaning.id) == {
        first.id: "cancelled",
        second.id: "pending",
        third.id: "pending",
    }

    assert (
        await client.put(offers_url(app, cleaning.id, second.username), headers=owner.headers)
    ).status_code == 200
    stranger = await create_user(app.ctx)
    no_offer = await client.put(offers_url(app, cleaning.id), headers=stranger.headers)
    assert no_offer.status_code == 404
    assert no_offer.json()["detail"] == "Offer not found."
    unknown = await client.put(offers_url(app, cleaning.id, "nobody_at_all"), headers=owner.headers)
    assert unknown.status_code == 404


async def test_rescind_only_pending_offers(app: RunningApp, client: httpx.AsyncClient, sql) -> None:
    owner, first, second = await create_users(app.ctx, 3)
    cleaning = await create_cleaning(app.ctx, owner)
    await create_offer(app.ctx, cleaning, first)
    await create_offer(app.ctx, cleaning, second)
    rescinded = await client.delete(offers_url(app, cleaning.id), headers=second.headers)
    assert rescinded.status_code == 200
    assert rescinded.json()["user_id"] == second.id
    assert second.id not in await statuses(sql, cleaning.id)
    assert (
        await client.delete(offers_url(app, cleaning.id), headers=second.headers)
    ).status_code == 404

    await client.put(offers_url(app, cleaning.id, first.username), headers=owner.headers)
    refused = await client.delete(offers_url(app, cleaning.id), headers=first.headers)
    assert refused.status_code == 400
    assert refused.json()["detail"] == "Can only rescind currently pending offers."
    assert (await client.delete(offers_url(app, 999999), headers=first.headers)).status_code == 404


async def accept(
    app: RunningApp,
    client: httpx.AsyncClient,
    cleaning_id: int,
    owner: UserFixture,
    cleaner: UserFixture,
) -> int:
    response = await client.put(
        offers_url(app, cleaning_id, cleaner.username), headers=owner.headers
    )
    return response.status_code


@pytest.mark.parametrize("round_", range(5))
async def test_concurrent_accepts_hire_exactly_one(
    app: RunningApp, client: httpx.AsyncClient, sql, round_: int
) -> None:
    owner, *cleaners = await create_users(app.ctx, 5)
    cleaning = await create_cleaning(app.ctx, owner)
    for cleaner in cleaners:
        await create_offer(app.ctx, cleaning, cleaner)
    codes = await asyncio.gather(*(accept(app, client, cleaning.id, owner, c) for c in cleaners))
    assert sorted(codes) == [200, 400, 400, 400]
    assert list((await statuses(sql, cleaning.id)).values()).count("accepted") == 1


async def test_concurrent_offers_by_one_user_create_one(
    app: RunningApp, client: httpx.AsyncClient, sql
) -> None:
    owner, cleaner = await create_users(app.ctx, 2)
    cleaning = await create_cleaning(app.ctx, owner)
    responses = await asyncio.gather(
        *(client.post(offers_url(app, cleaning.id), headers=cleaner.headers) for _ in range(6))
    )
    assert sorted(r.status_code for r in responses) == [201, 400, 400, 400, 400, 400]
    assert await sql.fetchval("SELECT count(*) FROM offers") == 1


async def test_delete_racing_accept_never_leaves_a_hired_cleaner_without_a_job(
    app: RunningApp, client: httpx.AsyncClient, sql
) -> None:
    for _ in range(5):
        owner, cleaner = await create_users(app.ctx, 2)
        cleaning = await create_cleaning(app.ctx, owner)
        await create_offer(app.ctx, cleaning, cleaner)
        delete, accepted = await asyncio.gather(
            client.delete(
                app.url("cleanings:delete-cleaning-by-id", cleaning_id=str(cleaning.id)),
                headers=owner.headers,
            ),
            client.put(offers_url(app, cleaning.id, cleaner.username), headers=owner.headers),
        )
        exists = await sql.fetchval("SELECT count(*) FROM cleanings WHERE id = $1", cleaning.id)
        if delete.status_code == 200:  # delete won: the accept found nothing to accept
            assert accepted.status_code == 404
            assert exists == 0
        else:  # accept won: the delete was refused
            assert (delete.status_code, accepted.status_code) == (400, 200)
            assert exists == 1


async def test_the_database_refuses_a_second_hire(sql: asyncpg.Connection) -> None:
    insert_user = "INSERT INTO users (username, email, password) VALUES ($1, $2, 'x') RETURNING id"
    owner = await sql.fetchval(insert_user, "own", "o@example.com")
    a = await sql.fetchval(insert_user, "aaa", "a@example.com")
    b = await sql.fetchval(insert_user, "bbb", "b@example.com")
    cleaning = await sql.fetchval(
        "INSERT INTO cleanings (name, price, owner) VALUES ('c', 1, $1) RETURNING id", owner
    )
    await sql.execute(
        "INSERT INTO offers (user_id, cleaning_id, status) VALUES ($1, $2, 'completed')",
        a,
        cleaning,
    )
    with pytest.raises(asyncpg.UniqueViolationError, match="offers_cleaning_id_hired_key"):
        await sql.execute(
            "INSERT INTO offers (user_id, cleaning_id, status) VALUES ($1, $2, 'accepted')",
            b,
            cleaning,
        )
    with pytest.raises(asyncpg.CheckViolationError):
        await sql.execute(
            "INSERT INTO offers (user_id, cleaning_id, status) VALUES ($1, $2, 'maybe')",
            b,
            cleaning,
        )
