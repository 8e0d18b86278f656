"""Password change, password reset through the outbox, and account deletion."""

from __future__ import annotations

import re
import uuid

import httpx
import pytest

from backend.core.mail import LoggingOutbox
from backend.tests.conftest import (
    FakeClock,
    RunningApp,
    build_app,
    client_for,
    database_time_passes,
    make_settings,
    running,
)
from backend.tests.factories import UserFixture, create_user
from backend.tests.users.test_rate_limits import skewed

pytestmark = pytest.mark.anyio


async def login(
    app: RunningApp, client: httpx.AsyncClient, email: str, password: str
) -> httpx.Response:
    return await client.post(
        app.url("users:login-email-and-password"), data={"username": email, "password": password}
    )


def change_body(current: str, new: str) -> dict[str, dict[str, str]]:
    return {"password_update": {"current_password": current, "new_password": new}}


async def test_change_password_revokes_older_access_and_refresh_tokens(
    app: RunningApp, client: httpx.AsyncClient
) -> None:
    user = await create_user(app.ctx)
    session = (await login(app, client, user.email, user.password)).json()
    response = await client.put(
        app.url("users:change-password"),
        json=change_body(user.password, "brand-new-pass"),
        headers=user.headers,
    )
    assert response.status_code == 204
    me = app.url("users:get-current-user")
    assert (await client.get(me, headers=user.headers)).status_code == 401
    old_access = {"Authorization": f"Bearer {session['access_token']}"}
    assert (await client.get(me, headers=old_access)).status_code == 401
    refreshed = await client.post(
        app.url("users:refresh-token"), json={"refresh_token": session["refresh_token"]}
    )
    assert refreshed.status_code == 401
    assert (await login(app, client, user.email, user.password)).status_code == 401
    fresh = await login(app, client, user.email, "brand-new-pass")
    assert fresh.status_code == 200
    new_access = {"Authorization": f"Bearer {fresh.json()['access_token']}"}
    assert (await client.get(me, headers=new_access)).status_code == 200


async def test_change_password_with_a_wrong_current_password_is_400_and_changes_nothing(
    app: RunningApp, client: httpx.AsyncClient
) -> None:
    user = await create_user(app.ctx)
    response = await client.put(
        app.url("users:change-password"),
        json=change_body("not-my-password", "brand-new-pass"),
        headers=user.headers,
    )
    assert response.status_code == 400
    assert response.json()["detail"] == "Current password is incorrect."
    assert (
        await client.get(app.url("users:get-current-user"), headers=user.headers)
    ).status_code == 200


@pytest.mark.parametrize("new_password", ["short", "x" * 101])
async def test_change_password_validates_the_new_password(
    app: RunningApp, client: httpx.AsyncClient, new_password: str
) -> None:
    user = await create_user(app.ctx)
    response = await client.put(
        app.url("users:change-password"),
        json=change_body(user.password, new_password),
        headers=user.headers,
    )
    assert response.status_code == 422


async def test_change_password_requires_auth(app: RunningApp, client: httpx.AsyncClient) -> None:
    response = await client.put(
        app.url("users:change-password"), json=change_body("a" * 8, "b" * 8)
    )
    assert response.status_code == 401


def reset_token_from(outbox: LoggingOutbox, email: str) -> str:
    mail = next(m for m in reversed(outbox.sent) if m.to == email)
    match = re.search(r"token=(\S+)", mail.body)
    assert match is not None
    return match.group(1)


async def request_reset(app: RunningApp, client: httpx.AsyncClient, email: str) -> httpx.Response:
    response = await client.post(app.url("users:request-password-reset"), json={"email": email})
    await app.ctx.jobs.drain()  # the link is created and mailed after the response
    return response


async def test_password_reset_end_to_end(
    app: RunningApp, client: httpx.AsyncClient, outbox: LoggingOutbox, sql
) -> None:
    user = await create_user(app.ctx)
    session = (await login(app, client, user.email, user.password)).json()
    response = await request_reset(app, client, user.email)
    assert response.status_code == 202
    token = reset_token_from(outbox, user.email)
    stored = await sql.fetchval(
        "SELECT token_hash FROM password_reset_tokens WHERE user_id = $1", user.id
    )
    assert token.encode() not in stored

    confirm = app.url("users:confirm-password-reset")
    done = await client.post(confirm, json={"token": token, "new_password": "reset-password-1"})
    assert done.status_code == 204
    assert (await login(app, client, user.email, "reset-password-1")).status_code == 200
    assert (await login(app, client, user.email, user.password)).status_code == 401
    # every session is revoked
    assert (
        await client.get(app.url("users:get-current-user"), headers=user.headers)
    ).status_code == 401
    refreshed = await client.post(
        app.url("users:refresh-token"), json={"refresh_token": session["refresh_token"]}
    )
    assert refreshed.status_code == 401
    # single use
    again = await client.post(confirm, json={"token": token, "new_password": "reset-password-2"})
    assert again.status_code == 400
    assert again.json()["detail"] == "Invalid or expired reset token."


async def test_reset_for_an_unknown_email_looks_the_same_and_sends_nothing(
    app: RunningApp, client: httpx.AsyncClient, outbox: LoggingOutbox
) -> None:
    user = await create_user(app.ctx)
    known = await request_reset(app, client, user.email)
    unknown = await request_reset(app, client, "nobody@example.com")
    assert known.status_code == unknown.status_code == 202
    assert known.json() == unknown.json()
    assert [m.to for m in outbox.sent] == [user.email]


async def test_reset_token_expires_after_an_hour(
    app: RunningApp, client: httpx.AsyncClient, outbox: LoggingOutbox, db_url: str
) -> None:
    user = await create_user(app.ctx)
    await request_reset(app, client, user.email)
    token = reset_token_from(outbox, user.email)
    await database_time_passes(db_url, 3601)
    response = await client.post(
        app.url("users:confirm-password-reset"),
        json={"token": token, "new_password": "reset-password-1"},
    )
    assert response.status_code == 400
    assert (await login(app, client, user.email, user.password)).status_code == 200


@pytest.mark.parametrize(
    "body",
    [
        {"token": "forged", "new_password": "reset-password-1"},
        {"token": "x", "new_password": "short"},
        {},
    ],
)
async def test_reset_confirm_rejects_bad_input(
    app: RunningApp, client: httpx.AsyncClient, body: dict[str, str]
) -> None:
    response = await client.post(app.url("users:confirm-password-reset"), json=body)
    assert response.status_code in {400, 422}
    if response.status_code == 400:
        assert response.json()["detail"] == "Invalid or expired reset token."


async def test_reset_request_validates_the_email(
    app: RunningApp, client: httpx.AsyncClient
) -> None:
    response = await client.post(app.url("users:request-password-reset"), json={"email": "nope"})
    assert response.status_code == 422


async def owns_everything(sql, user: UserFixture, other: UserFixture) -> None:
    """Give `user` a cleaning with an offer by `other`, an offer on `other`'s cleaning, an
    evaluation received and one given, and a refresh token."""
    own = await sql.fetchval(
        "INSERT INTO cleanings (name, price, owner) VALUES ('mine', 10, $1) RETURNING id", user.id
    )
    theirs = await sql.fetchval(
        "INSERT INTO cleanings (name, price, owner) VALUES ('theirs', 10, $1) RETURNING id",
        other.id,
    )
    await sql.execute(
        "INSERT INTO offers (user_id, cleaning_id, status) VALUES ($1, $2, 'completed')",
        other.id,
        own,
    )
    await sql.execute(
        "INSERT INTO offers (user_id, cleaning_id, status) VALUES ($1, $2, 'completed')",
        user.id,
        theirs,
    )
    await sql.execute(
        "INSERT INTO evaluations (cleaning_id, cleaner_id, overall_rating) VALUES ($1, $2, 5)",
        own,
        other.id,
    )
    await sql.execute(
        "INSERT INTO evaluations (cleaning_id, cleaner_id, overall_rating) VALUES ($1, $2, 4)",
        theirs,
        user.id,
    )


async def test_delete_account_removes_everything_it_owns(
    app: RunningApp, client: httpx.AsyncClient, sql
) -> None:
    user, other = await create_user(app.ctx), await create_user(app.ctx)
    await owns_everything(sql, user, other)
    await login(app, client, user.email, user.password)
    response = await client.delete(app.url("users:delete-current-user"), headers=user.headers)
    assert response.status_code == 204
    for table, column in [
        ("users", "id"),
        ("profiles", "user_id"),
        ("cleanings", "owner"),
        ("offers", "user_id"),
        ("evaluations", "cleaner_id"),
        ("refresh_tokens", "user_id"),
    ]:
        count = await sql.fetchval(f"SELECT count(*) FROM {table} WHERE {column} = $1", user.id)  # noqa: S608
        assert count == 0, table
    # the other user's evaluation of the deleted user's cleaning went with the cleaning
    assert await sql.fetchval("SELECT count(*) FROM evaluations") == 0
    assert await sql.fetchval("SELECT count(*) FROM cleanings") == 1  # `other`'s own cleaning stays
    assert (
        await client.get(app.url("users:get-current-user"), headers=user.headers)
    ).status_code == 401
    assert (await login(app, client, user.email, user.password)).status_code == 401
    assert (
        await client.delete(app.url("users:delete-current-user"), headers=user.headers)
    ).status_code == 401


@pytest.mark.parametrize(
    ("password", "refused"),
    [
        ("iloveyou", "too common"),
        ("Password1", "too common"),  # the list is matched case-insensitively
        ("{username}-rocks", "must not contain"),
        ("{local}forever", "must not contain"),
        ("my phresh account", "must not contain"),
        ("violet harbour stone", None),
    ],
)
async def test_common_and_context_passwords_are_refused_everywhere(
    app: RunningApp,
    client: httpx.AsyncClient,
    outbox: LoggingOutbox,
    password: str,
    refused: str | None,
) -> None:
    """Register, change and reset apply one policy (ASVS 5.0 6.2.4, 6.2.11)."""

    def for_account(username: str, email: str) -> str:
        return password.format(username=username, local=email.partition("@")[0])

    username = f"poli{uuid.uuid4().hex[:6]}"
    email = f"mail{uuid.uuid4().hex[:6]}@example.com"
    registered = await client.post(
        app.url("users:register-new-user"),
        json={
            "new_user": {
                "email": email,
                "username": username,
                "password": for_account(username, email),
            }
        },
    )
    user = await create_user(app.ctx)
    own = for_account(user.username, user.email)
    changed = await client.put(
        app.url("users:change-password"), json=change_body(user.password, own), headers=user.headers
    )
    await request_reset(app, client, user.email)
    reset = await client.post(
        app.url("users:confirm-password-reset"),
        json={"token": reset_token_from(outbox, user.email), "new_password": own},
    )
    if refused is None:
        assert (registered.status_code, changed.status_code, reset.status_code) == (201, 204, 204)
        return
    for response in (registered, changed, reset):
        assert response.status_code == 422, response.text
        assert refused in response.json()["detail"][0]["msg"]
        assert response.json()["detail"][0]["loc"][-1] in {"password", "new_password"}


@pytest.mark.parametrize("skew", [-5, 5, 3600 + 70])
async def test_a_reset_link_from_one_instance_works_on_an_instance_whose_clock_differs(
    db_url: str, outbox: LoggingOutbox, skew: int
) -> None:
    """Requested on one instance, confirmed at once on another whose clock is off, even by
    more than the link's lifetime: the database's clock decides the expiry."""
    settings = make_settings(db_url)
    async with (
        running(build_app(settings, FakeClock(), outbox)) as one,
        running(build_app(settings, skewed(skew), outbox)) as two,
        client_for(one) as http_one,
        client_for(two) as http_two,
    ):
        user = await create_user(one.ctx)
        assert (await request_reset(one, http_one, user.email)).status_code == 202
        token = reset_token_from(outbox, user.email)
        confirmed = await http_two.post(
            two.url("users:confirm-password-reset"),
            json={"token": token, "new_password": "copper lantern meadow"},
        )
        assert confirmed.status_code == 204, confirmed.text
