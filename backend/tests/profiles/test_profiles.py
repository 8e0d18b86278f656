"""Profiles: read anyone's (email hidden), partial update of your own."""

from __future__ import annotations

import httpx
import pytest

from backend.tests.conftest import RunningApp
from backend.tests.factories import create_user

pytestmark = pytest.mark.anyio


async def test_get_profile_by_username_hides_other_users_email(
    app: RunningApp, client: httpx.AsyncClient
) -> None:
    owner, viewer = await create_user(app.ctx), await create_user(app.ctx)
    url = app.url("profiles:get-profile-by-username", username=owner.username.upper())
    response = await client.get(url, headers=viewer.headers)
    assert response.status_code == 200
    profile = response.json()
    assert profile["username"] == owner.username
    assert profile["user_id"] == owner.id
    assert profile["email"] is None
    own = await client.get(url, headers=owner.headers)
    assert own.json()["email"] == owner.email


async def test_unknown_profile_is_404(app: RunningApp, client: httpx.AsyncClient) -> None:
    user = await create_user(app.ctx)
    response = await client.get(
        app.url("profiles:get-profile-by-username", username="nobody_here"), headers=user.headers
    )
    assert response.status_code == 404
    assert response.json()["detail"] == "No profile found with that username."


async def test_profiles_require_auth(app: RunningApp, client: httpx.AsyncClient) -> None:
    owner = await create_user(app.ctx)
    response = await client.get(
        app.url("profiles:get-profile-by-username", username=owner.username)
    )
    assert response.status_code == 401
    assert (
        await client.put(app.url("profiles:update-own-profile"), json={"profile_update": {}})
    ).status_code == 401


async def test_update_own_profile_changes_only_the_fields_present(
    app: RunningApp, client: httpx.AsyncClient
) -> None:
    user = await create_user(app.ctx)
    url = app.url("profiles:update-own-profile")
    first = await client.put(
        url,
        json={
            "profile_update": {
                "full_name": "Ada Lovelace",
                "bio": "Cleans fast.",
                "image": "https://img.example.com/a.png",
            }
        },
        headers=user.headers,
    )
    assert first.status_code == 200
    body = first.json()
    assert body["full_name"] == "Ada Lovelace"
    assert body["username"] == user.username
    assert body["email"] == user.email
    assert body["image"] == "https://img.example.com/a.png"

    second = await client.put(
        url, json={"profile_update": {"phone_number": "555-0100"}}, headers=user.headers
    )
    assert second.json()["full_name"] == "Ada Lovelace"
    assert second.json()["phone_number"] == "555-0100"
    assert second.json()["bio"] == "Cleans fast."

    cleared = await client.put(
        url, json={"profile_update": {"full_name": None}}, headers=user.headers
    )
    assert cleared.json()["full_name"] is None
    assert cleared.json()["phone_number"] == "555-0100"

    me = await client.get(app.url("users:get-current-user"), headers=user.headers)
    assert me.json()["profile"]["phone_number"] == "555-0100"


@pytest.mark.parametrize(
    "update",
    [
        {"full_name": 123},
        {"full_name": ["a"]},
        {"image": "not a url"},
        {"image": "ftp://example.com/a.png"},
        {"bio": "x" * 5001},
    ],
)
async def test_invalid_profile_updates_are_422_and_change_nothing(
    app: RunningApp, client: httpx.AsyncClient, update: dict[str, object]
) -> None:
    user = await create_user(app.ctx)
    response = await client.put(
        app.url("profiles:update-own-profile"),
        json={"profile_update": update},
        headers=user.headers,
    )
    assert response.status_code == 422
    assert response.json()["detail"][0]["loc"][:2] == ["body", "profile_update"]
    me = await client.get(app.url("users:get-current-user"), headers=user.headers)
    assert me.json()["profile"]["full_name"] is None
    assert me.json()["profile"]["image"] is None
