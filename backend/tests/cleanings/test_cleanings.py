"""Cleanings through HTTP: every status and detail of the contract, pagination links."""

from __future__ import annotations

import re
from decimal import Decimal

import httpx
import pytest

from backend.tests.conftest import RunningApp
from backend.tests.factories import create_cleaning, create_offer, create_user, create_users, hire

pytestmark = pytest.mark.anyio


def new_cleaning(**overrides: object) -> dict[str, dict[str, object]]:
    body: dict[str, object] = {"name": "Deep clean", "description": "Two rooms", "price": 29.99}
    return {"new_cleaning": {**body, **overrides}}


async def test_create_cleaning(app: RunningApp, client: httpx.AsyncClient, sql) -> None:
    owner = await create_user(app.ctx)
    response = await client.post(
        app.url("cleanings:create-cleaning"), json=new_cleaning(), headers=owner.headers
    )
    assert response.status_code == 201
    cleaning = response.json()
    assert cleaning["name"] == "Deep clean"
    assert cleaning["price"] == 29.99
    assert cleaning["cleaning_type"] == "spot_clean"
    assert cleaning["owner"]["id"] == owner.id
    assert cleaning["owner"]["email"] == owner.email  # the caller is the owner
    assert cleaning["owner"]["profile"]["username"] == owner.username
    assert cleaning["total_offers"] == 0
    assert cleaning["offers"] == []
    stored = await sql.fetchval("SELECT price FROM cleanings WHERE id = $1", cleaning["id"])
    assert stored == Decimal("29.99")


@pytest.mark.parametrize(
    ("price", "stored"),
    [(10.005, "10.01"), (0, "0.00"), (99999999.99, "99999999.99"), ("12.344", "12.34")],
)
async def test_price_is_exact_to_the_cent(
    app: RunningApp, client: httpx.AsyncClient, sql, price: object, stored: str
) -> None:
    owner = await create_user(app.ctx)
    response = await client.post(
        app.url("cleanings:create-cleaning"), json=new_cleaning(price=price), headers=owner.headers
    )
    assert response.status_code == 201
    assert await sql.fetchval(
        "SELECT price FROM cleanings WHERE id = $1", response.json()["id"]
    ) == Decimal(stored)


@pytest.mark.parametrize(
    "overrides",
    [
        {"price": -1},
        {"price": 100000000},
        {"price": 99999999.995},
        {"price": "NaN"},
        {"price": "Infinity"},
        {"price": "abc"},
        {"price": None},
        {"name": ""},
        {"name": None},
        {"cleaning_type": "car_wash"},
        {"cleaning_type": None},
    ],
)
async def test_invalid_cleanings_are_422_and_create_nothing(
    app: RunningApp, client: httpx.AsyncClient, sql, overrides: dict[str, object]
) -> None:
    owner = await create_user(app.ctx)
    response = await client.post(
        app.url("cleanings:create-cleaning"), json=new_cleaning(**overrides), headers=owner.headers
    )
    assert response.status_code == 422
    assert await sql.fetchval("SELECT count(*) FROM cleanings") == 0


async def test_missing_required_fields_are_422(app: RunningApp, client: httpx.AsyncClient) -> None:
    owner = await create_user(app.ctx)
    response = await client.post(
        app.url("cleanings:create-cleaning"),
        json={"new_cleaning": {"name": "x"}},
        headers=owner.headers,
    )
    assert response.status_code == 422
    assert response.json()["detail"][0]["loc"] == ["body", "new_cleaning", "price"]


async def test_cleanings_require_auth(app: RunningApp, client: httpx.AsyncClient) -> None:
    assert (
        await client.post(app.url("cleanings:create-cleaning"), json=new_cleaning())
    ).status_code == 401
    assert (await client.get(app.url("cleanings:list-own-cleanings"))).status_code == 401
    assert (
        await client.get(app.url("cleanings:get-cleaning-by-id", cleaning_id="1"))
    ).status_code == 401


async def test_get_cleaning_by_id_for_any_user_hides_the_owners_email(
    app: RunningApp, client: httpx.AsyncClient
) -> None:
    owner, other = await create_user(app.ctx), await create_user(app.ctx)
    cleaning = await create_cleaning(app.ctx, owner)
    response = await client.get(
        app.url("cleanings:get-cleaning-by-id", cleaning_id=str(cleaning.id)), headers=other.headers
    )
    assert response.status_code == 200
    body = response.json()
    assert body["id"] == cleaning.id
    assert body["owner"]["username"] == owner.username
    assert body["owner"]["email"] is None
    assert body["owner"]["profile"]["email"] is None


@pytest.mark.parametrize(
    ("cleaning_id", "status"), [("999999", 404), ("0", 422), ("-1", 422), ("abc", 422)]
)
async def test_get_cleaning_bad_ids(
    app: RunningApp, client: httpx.AsyncClient, cleaning_id: str, status: int
) -> None:
    user = await create_user(app.ctx)
    response = await client.get(
        app.url("cleanings:get-cleaning-by-id", cleaning_id=cleaning_id), headers=user.headers
    )
    assert response.status_code == status
    if status == 404:
        assert response.json()["detail"] == "No cleaning found with that id."


async def test_offers_shown_depend_on_who_asks(app: RunningApp, client: httpx.AsyncClient) -> None:
    owner, alice, bob = await create_users(app.ctx, 3)
    cleaning = await create_cleaning(app.ctx, owner)
    await create_offer(app.ctx, cleaning, alice)
    await create_offer(app.ctx, cleaning, bob)
    url = app.url("cleanings:get-cleaning-by-id", cleaning_id=str(cleaning.id))
    as_owner = (await client.get(url, headers=owner.headers)).json()
    as_alice = (await client.get(url, headers=alice.headers)).json()
    stranger = await create_user(app.ctx)
    as_stranger = (await client.get(url, headers=stranger.headers)).json()
    assert as_owner["total_offers"] == as_alice["total_offers"] == as_stranger["total_offers"] == 2
    assert {o["user_id"] for o in as_owner["offers"]} == {alice.id, bob.id}
    assert all(o["user"]["email"] is None for o in as_owner["offers"])
    assert [o["user_id"] for o in as_alice["offers"]] == [alice.id]
    assert as_alice["offers"][0]["user"]["email"] == alice.email
    assert as_stranger["offers"] == []


async def test_list_own_cleanings_newest_first_with_pagination(
    app: RunningApp, client: httpx.AsyncClient, sql
) -> None:
    owner, other = await create_user(app.ctx), await create_user(app.ctx)
    ids = [(await create_cleaning(app.ctx, owner)).id for _ in range(7)]
    await create_cleaning(app.ctx, other)
    # rows inserted in one transaction share created_at: the id breaks the tie
    await sql.execute(
        "UPDATE cleanings SET created_at = now() - interval '1 day' WHERE id = ANY($1)", ids[:4]
    )
    seen: list[int] = []
    url: str | None = app.url("cleanings:list-own-cleanings") + "?limit=3"
    pages = 0
    while url:
        response = await client.get(url, headers=owner.headers)
        assert response.status_code == 200
        seen += [c["id"] for c in response.json()]
        match = re.match(r'<([^>]+)>; rel="next"', response.headers.get("link", ""))
        url = match.group(1) if match else None
        pages += 1
    assert pages == 3
    assert seen == ids[4:][::-1] + ids[:4][::-1]


@pytest.mark.parametrize(
    "query", ["limit=0", "limit=101", "limit=x", "cursor=garbage", "cursor=" + "a" * 300]
)
async def test_list_rejects_bad_paging_parameters(
    app: RunningApp, client: httpx.AsyncClient, query: str
) -> None:
    owner = await create_user(app.ctx)
    response = await client.get(
        app.url("cleanings:list-own-cleanings") + "?" + query, headers=owner.headers
    )
    assert response.status_code == 422


async def test_update_cleaning_partially(app: RunningApp, client: httpx.AsyncClient) -> None:
    owner = await create_user(app.ctx)
    cleaning = await create_cleaning(app.ctx, owner, price="10.00")
    url = app.url("cleanings:update-cleaning-by-id", cleaning_id=str(cleaning.id))
    response = await client.put(
        url, json={"cleaning_update": {"price": 15.5, "owner": 999}}, headers=owner.headers
    )
    assert response.status_code == 200
    body = response.json()
    assert body["price"] == 15.5
    assert body["name"] == cleaning.name
    assert body["owner"]["id"] == owner.id
    assert body["updated_at"] > body["created_at"]
    typed = await client.put(
        url,
        json={"cleaning_update": {"cleaning_type": "full_clean", "description": None}},
        headers=owner.headers,
    )
    assert typed.json()["cleaning_type"] == "full_clean"
    assert typed.json()["description"] is None
    assert typed.json()["price"] == 15.5


async def test_update_errors(app: RunningApp, client: httpx.AsyncClient) -> None:
    owner, other, cleaner = await create_users(app.ctx, 3)
    cleaning = await create_cleaning(app.ctx, owner)
    url = app.url("cleanings:update-cleaning-by-id", cleaning_id=str(cleaning.id))
    forbidden = await client.put(
        url, json={"cleaning_update": {"name": "mine now"}}, headers=other.headers
    )
    assert forbidden.status_code == 403
    assert (
        forbidden.json()["detail"] == "Users are only able to modify cleanings that they created."
    )
    none_type = await client.put(
        url, json={"cleaning_update": {"cleaning_type": None}}, headers=owner.headers
    )
    assert none_type.status_code == 400
    assert none_type.json()["detail"] == "Invalid cleaning type. Cannot be None."
    bad_type = await client.put(
        url, json={"cleaning_update": {"cleaning_type": "car_wash"}}, headers=owner.headers
    )
    assert bad_type.status_code == 422
    null_price = await client.put(
        url, json={"cleaning_update": {"price": None}}, headers=owner.headers
    )
    assert null_price.status_code == 422
    missing = await client.put(
        app.url("cleanings:update-cleaning-by-id", cleaning_id="999999"),
        json={"cleaning_update": {"name": "x"}},
        headers=owner.headers,
    )
    assert missing.status_code == 404

    await hire(app.ctx, cleaning, owner, cleaner)
    locked = await client.put(url, json={"cleaning_update": {"price": 99}}, headers=owner.headers)
    assert locked.status_code == 400
    assert (
        locked.json()["detail"]
        == "Cannot change the price or type of a cleaning with an accepted offer."
    )
    renamed = await client.put(
        url, json={"cleaning_update": {"name": "Renamed"}}, headers=owner.headers
    )
    assert renamed.status_code == 200
    retyped = await client.put(
        url, json={"cleaning_update": {"cleaning_type": "dust_up"}}, headers=owner.headers
    )
    assert retyped.status_code == 400
    assert retyped.json()["code"] == "cleaning_hired"


async def test_a_hired_cleaning_sent_back_whole_with_a_new_description_is_saved(
    app: RunningApp, client: httpx.AsyncClient
) -> None:
    """The tutorial's frontend edits by sending the whole cleaning back: the unchanged price
    and type in it are not a change, so the rule for hired cleanings does not refuse it."""
    owner, cleaner = await create_users(app.ctx, 2)
    cleaning = await create_cleaning(app.ctx, owner, price=Decimal("25.50"))
    await hire(app.ctx, cleaning, owner, cleaner)
    url = app.url("cleanings:update-cleaning-by-id", cleaning_id=str(cleaning.id))
    whole = (await client.get(url, headers=owner.headers)).json()
    whole["description"] = "Bring your own mop."
    saved = await client.put(url, json={"cleaning_update": whole}, headers=owner.headers)
    assert saved.status_code == 200, saved.text
    assert saved.json()["description"] == "Bring your own mop."
    assert saved.json()["price"] == 25.5
    # the same price written another way (more decimals round to the same cents) is no change
    same = await client.put(url, json={"cleaning_update": {"price": 25.501}}, headers=owner.headers)
    assert same.status_code == 200
    changed = await client.put(
        url, json={"cleaning_update": {**whole, "price": 26}}, headers=owner.headers
    )
    assert changed.status_code == 400
    assert (await client.get(url, headers=owner.headers)).json()["price"] == 25.5


async def test_delete_cleaning(app: RunningApp, client: httpx.AsyncClient, sql) -> None:
    owner, other, offerer = await create_users(app.ctx, 3)
    cleaning = await create_cleaning(app.ctx, owner)
    await create_offer(app.ctx, cleaning, offerer)
    url = app.url("cleanings:delete-cleaning-by-id", cleaning_id=str(cleaning.id))
    forbidden = await client.delete(url, headers=other.headers)
    assert forbidden.status_code == 403
    response = await client.delete(url, headers=owner.headers)
    assert response.status_code == 200
    assert response.json() == cleaning.id
    assert await sql.fetchval("SELECT count(*) FROM offers") == 0
    assert (await client.delete(url, headers=owner.headers)).status_code == 404
    assert (
        await client.delete(
            app.url("cleanings:delete-cleaning-by-id", cleaning_id="0"), headers=owner.headers
        )
    ).status_code == 422


async def test_cannot_delete_a_cleaning_with_a_hired_cleaner(
    app: RunningApp, client: httpx.AsyncClient
) -> None:
    owner, cleaner = await create_user(app.ctx), await create_user(app.ctx)
    cleaning = await create_cleaning(app.ctx, owner)
    await hire(app.ctx, cleaning, owner, cleaner)
    response = await client.delete(
        app.url("cleanings:delete-cleaning-by-id", cleaning_id=str(cleaning.id)),
        headers=owner.headers,
    )
    assert response.status_code == 400
    assert (
        response.json()["detail"] == "Cannot delete a cleaning with an accepted or completed offer."
    )


async def test_a_value_postgres_refuses_is_422_in_the_usual_shape(
    app: RunningApp, client: httpx.AsyncClient
) -> None:
    owner = await create_user(app.ctx)
    response = await client.post(
        app.url("cleanings:create-cleaning"),
        json=new_cleaning(description="nul \u0000 byte"),
        headers=owner.headers,
    )
    assert response.status_code == 422
    assert response.json()["detail"][0]["loc"] == ["body"]
