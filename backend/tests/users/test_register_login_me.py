"""Register, login and /me: every status and detail of the contract."""

from __future__ import annotations

import httpx
import pytest

from backend.tests.conftest import RunningApp
from backend.tests.factories import DEFAULT_PASSWORD, create_user, unique_username

pytestmark = pytest.mark.anyio


def new_user(**overrides: str) -> dict[str, dict[str, str]]:
    username = unique_username()
    body = {
        "email": f"{username}@example.com",
        "username": username,
        "password": "dappled otter kettle",
    }
    return {"new_user": {**body, **overrides}}


async def test_register_returns_the_user_with_an_access_token_and_empty_profile(
    app: RunningApp, client: httpx.AsyncClient
) -> None:
    body = new_user()
    response = await client.post(app.url("users:register-new-user"), json=body)
    assert response.status_code == 201
    user = response.json()
    assert user["username"] == body["new_user"]["username"]
    assert user["email"] == body["new_user"]["email"]
    assert user["email_verified"] is False
    assert user["is_active"] is True
    assert user["is_superuser"] is False
    assert user["access_token"]["token_type"] == "bearer"
    assert user["profile"]["user_id"] == user["id"]
    assert user["profile"]["full_name"] is None
    assert "password" not in response.text and "dappled otter kettle" not in response.text
    me = await client.get(
        app.url("users:get-current-user"),
        headers={"Authorization": f"Bearer {user['access_token']['access_token']}"},
    )
    assert me.status_code == 200
    assert me.json()["access_token"] is None
    assert me.json()["email"] == body["new_user"]["email"]


async def test_password_is_stored_as_an_argon2id_hash(
    app: RunningApp, client: httpx.AsyncClient, sql
) -> None:
    body = new_user()
    await client.post(app.url("users:register-new-user"), json=body)
    stored = await sql.fetchval(
        "SELECT password FROM users WHERE username = $1", body["new_user"]["username"]
    )
    assert stored.startswith("$argon2id$")
    assert "dappled otter kettle" not in stored


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("email", "not-an-email"),
        ("email", "a@"),
        ("email", ""),
        ("password", "short12"),  # 7 characters: the original allowed it, the contract does not
        ("password", "x" * 101),
        ("username", "ab"),
        ("username", "has space"),
        ("username", "semi;colon"),
        ("username", "ünïcode"),
        ("username", "x" * 65),
    ],
)
async def test_register_rejects_invalid_input_with_422(
    app: RunningApp, client: httpx.AsyncClient, sql, field: str, value: str
) -> None:
    response = await client.post(
        app.url("users:register-new-user"), json=new_user(**{field: value})
    )
    assert response.status_code == 422
    assert response.json()["detail"][0]["loc"] == ["body", "new_user", field]
    assert await sql.fetchval("SELECT count(*) FROM users") == 0


@pytest.mark.parametrize("password", ["kq7m2xwz", "x" * 100, "pässwörd ✓ with ünïcode"])
async def test_register_accepts_password_length_bounds_and_unicode(
    app: RunningApp, client: httpx.AsyncClient, password: str
) -> None:
    body = new_user(password=password)
    assert (await client.post(app.url("users:register-new-user"), json=body)).status_code == 201
    login = await client.post(
        app.url("users:login-email-and-password"),
        data={"username": body["new_user"]["email"], "password": password},
    )
    assert login.status_code == 200


async def test_register_missing_body_key_is_422(app: RunningApp, client: httpx.AsyncClient) -> None:
    response = await client.post(
        app.url("users:register-new-user"), json={"email": "a@example.com"}
    )
    assert response.status_code == 422
    assert response.json()["detail"][0]["loc"] == ["body", "new_user"]


async def test_taken_email_and_username_are_400_case_insensitively(
    app: RunningApp, client: httpx.AsyncClient
) -> None:
    existing = await create_user(app.ctx)
    same_email = new_user(email=existing.email.upper())
    response = await client.post(app.url("users:register-new-user"), json=same_email)
    assert response.status_code == 400
    assert response.json()["detail"] == (
        "That email is already taken. Login with that email or register with another one."
    )
    same_username = new_user(username=existing.username.upper())
    response = await client.post(app.url("users:register-new-user"), json=same_username)
    assert response.status_code == 400
    assert response.json()["detail"] == "That username is already taken. Please try another one."


async def test_login_returns_tokens(app: RunningApp, client: httpx.AsyncClient) -> None:
    user = await create_user(app.ctx)
    response = await client.post(
        app.url("users:login-email-and-password"),
        data={"username": user.email.upper(), "password": user.password},
    )
    assert response.status_code == 200
    tokens = response.json()
    assert tokens["token_type"] == "bearer"
    assert tokens["expires_in"] == 3600
    assert tokens["refresh_token"]
    me = await client.get(
        app.url("users:get-current-user"),
        headers={"Authorization": f"Bearer {tokens['access_token']}"},
    )
    assert me.json()["id"] == user.id


@pytest.mark.parametrize("case", ["wrong password", "unknown email", "username instead of email"])
async def test_login_failures_are_401_with_one_message(
    app: RunningApp, client: httpx.AsyncClient, case: str
) -> None:
    user = await create_user(app.ctx)
    username, password = {
        "wrong password": (user.email, "wrong-password"),
        "unknown email": ("nobody@example.com", DEFAULT_PASSWORD),
        "username instead of email": (user.username, DEFAULT_PASSWORD),
    }[case]
    response = await client.post(
        app.url("users:login-email-and-password"), data={"username": username, "password": password}
    )
    assert response.status_code == 401
    assert response.json()["detail"] == "Authentication was unsuccessful."
    assert response.headers["www-authenticate"] == "Bearer"


async def test_login_form_fields_are_required(app: RunningApp, client: httpx.AsyncClient) -> None:
    response = await client.post(
        app.url("users:login-email-and-password"), data={"username": "a@b.co"}
    )
    assert response.status_code == 422


@pytest.mark.parametrize(
    "authorization",
    [None, "Basic dXNlcjpwYXNz", "Bearer", "Bearer not-a-token", "Bearer a.b.c"],
)
async def test_me_requires_a_valid_bearer_token(
    app: RunningApp, client: httpx.AsyncClient, authorization: str | None
) -> None:
    headers = {"Authorization": authorization} if authorization else {}
    response = await client.get(app.url("users:get-current-user"), headers=headers)
    assert response.status_code == 401
    assert response.headers["www-authenticate"] == "Bearer"
    assert isinstance(response.json()["detail"], str)


async def test_inactive_user_is_401(app: RunningApp, client: httpx.AsyncClient, sql) -> None:
    user = await create_user(app.ctx)
    await sql.execute("UPDATE users SET is_active = false WHERE id = $1", user.id)
    response = await client.get(app.url("users:get-current-user"), headers=user.headers)
    assert response.status_code == 401
    assert response.json()["detail"] == "Not an active user."
    login = await client.post(
        app.url("users:login-email-and-password"),
        data={"username": user.email, "password": user.password},
    )
    assert login.status_code == 401


async def test_password_is_rehashed_when_parameters_change(
    app: RunningApp, client: httpx.AsyncClient, sql
) -> None:
    user = await create_user(app.ctx)
    from argon2 import PasswordHasher

    old_hash = PasswordHasher(time_cost=1, memory_cost=16, parallelism=1).hash(user.password)
    await sql.execute("UPDATE users SET password = $1 WHERE id = $2", old_hash, user.id)
    response = await client.post(
        app.url("users:login-email-and-password"),
        data={"username": user.email, "password": user.password},
    )
    assert response.status_code == 200
    new_hash = await sql.fetchval("SELECT password FROM users WHERE id = $1", user.id)
    assert new_hash != old_hash
    assert "m=8," in new_hash  # the app's current parameters
