"""Access and refresh tokens: tampering, expiry (injected clock), clock-skew leeway,
rotation, reuse detection, logout and key rotation."""

from __future__ import annotations

import asyncio
import hashlib
import uuid

import httpx
import pytest
from itsdangerous import Signer, URLSafeSerializer

from backend.core.security import Tokens
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

pytestmark = pytest.mark.anyio


async def login(app: RunningApp, client: httpx.AsyncClient, user: UserFixture) -> dict[str, str]:
    response = await client.post(
        app.url("users:login-email-and-password"),
        data={"username": user.email, "password": user.password},
    )
    assert response.status_code == 200
    tokens: dict[str, str] = response.json()
    return tokens


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


async def refresh(app: RunningApp, client: httpx.AsyncClient, token: str) -> httpx.Response:
    return await client.post(app.url("users:refresh-token"), json={"refresh_token": token})


async def test_tampered_access_token_is_401(app: RunningApp, client: httpx.AsyncClient) -> None:
    user = await create_user(app.ctx)
    payload, signature = user.access_token.rsplit(".", 1)
    forged_payload = payload[:-2] + ("AA" if payload[-2:] != "AA" else "BB")
    flipped = signature[:10] + ("A" if signature[10] != "A" else "B") + signature[11:]
    for token in [
        f"{forged_payload}.{signature}",
        f"{payload}.{flipped}",
        user.access_token + "xy",
    ]:
        response = await client.get(app.url("users:get-current-user"), headers=bearer(token))
        assert response.status_code == 401
        assert response.json()["detail"] == "Could not validate token credentials."


async def test_token_signed_with_another_key_or_purpose_is_401(
    app: RunningApp, client: httpx.AsyncClient
) -> None:
    user = await create_user(app.ctx)
    other_key = Tokens(["another-secret-key"], access_ttl_seconds=60, leeway_seconds=0)
    forged = other_key.issue_access(user_id=user.id, token_version=0)
    assert (
        await client.get(app.url("users:get-current-user"), headers=bearer(forged))
    ).status_code == 401
    refresh_token, _ = app.ctx.tokens.issue_random("refresh")  # right key, wrong purpose
    assert (
        await client.get(app.url("users:get-current-user"), headers=bearer(refresh_token))
    ).status_code == 401


def signed(app: RunningApp, value: str) -> str:
    """`value` signed as an access token with the app's key (claims we choose)."""
    keys = [app.ctx.settings.secret_key.get_secret_value()]
    return Signer(keys, salt="phresh.access", digest_method=hashlib.sha256).sign(value).decode()


async def test_well_signed_but_malformed_claims_are_401(
    app: RunningApp, client: httpx.AsyncClient, clock: FakeClock
) -> None:
    user = await create_user(app.ctx)
    now = int(clock())
    for claims in [
        f"{user.id}.0.{now}.{now + 60}",  # no family field
        f"{user.id}.0.{now}.{now + 60}.not-a-uuid",
        f"{user.id}.0.{now}.{now + 60}.{str(uuid.uuid4()).upper()}",
        f"{user.id}.x.{now}.{now + 60}.",
        f"-{user.id}.0.{now}.{now + 60}.",
        f"{user.id}.0.{now}.{now + 60}..",
    ]:
        response = await client.get(
            app.url("users:get-current-user"), headers=bearer(signed(app, claims))
        )
        assert response.status_code == 401, claims
    fine = signed(app, f"{user.id}.0.{now}.{now + 60}.")  # the same, well formed
    assert (
        await client.get(app.url("users:get-current-user"), headers=bearer(fine))
    ).status_code == 200


async def test_access_tokens_in_the_earlier_serialized_format_still_work_until_they_expire(
    app: RunningApp, client: httpx.AsyncClient, clock: FakeClock
) -> None:
    """Tokens issued before the bare format (a signed JSON object) stay valid for their
    lifetime, with the same checks: signature, claims, expiry."""
    user = await create_user(app.ctx)
    keys = [app.ctx.settings.secret_key.get_secret_value()]
    earlier = URLSafeSerializer(
        keys, salt="phresh.access", signer_kwargs={"digest_method": hashlib.sha256}
    )
    now = int(clock())
    claims = {"sub": user.id, "ver": 0, "iat": now, "exp": now + 60}
    me = app.url("users:get-current-user")
    assert (await client.get(me, headers=bearer(earlier.dumps(claims)))).status_code == 200
    for bad in [{**claims, "sub": "1"}, {**claims, "fam": "not-a-uuid"}, {"sub": user.id}]:
        assert (await client.get(me, headers=bearer(earlier.dumps(bad)))).status_code == 401
    tampered = earlier.dumps(claims)[:-3] + "AAA"
    assert (await client.get(me, headers=bearer(tampered))).status_code == 401
    clock.advance(60 + app.ctx.settings.token_clock_leeway_seconds)
    assert (await client.get(me, headers=bearer(earlier.dumps(claims)))).status_code == 401


async def test_access_token_expires(
    app: RunningApp, client: httpx.AsyncClient, clock: FakeClock
) -> None:
    user = await create_user(app.ctx)
    clock.advance(3600 - 1)
    assert (
        await client.get(app.url("users:get-current-user"), headers=user.headers)
    ).status_code == 200
    clock.advance(1 + app.ctx.settings.token_clock_leeway_seconds)
    expired = await client.get(app.url("users:get-current-user"), headers=user.headers)
    assert expired.status_code == 401
    assert expired.headers["www-authenticate"] == "Bearer"


async def test_a_token_from_an_instance_whose_clock_runs_ahead_is_accepted_within_leeway(
    db_url: str, outbox
) -> None:
    ahead, behind = FakeClock(), FakeClock()
    ahead.advance(3)  # another instance, 3 s ahead (leeway is 5 s)
    settings = make_settings(db_url)
    async with (
        running(build_app(settings, ahead, outbox)) as issuer,
        running(build_app(settings, behind, outbox)) as verifier,
        client_for(verifier) as http,
    ):
        user = await create_user(issuer.ctx)
        assert (
            await http.get(verifier.url("users:get-current-user"), headers=user.headers)
        ).status_code == 200
        ahead.advance(10)  # now 13 s ahead: beyond the leeway
        too_far = issuer.ctx.tokens.issue_access(user_id=user.id, token_version=0)
        response = await http.get(verifier.url("users:get-current-user"), headers=bearer(too_far))
        assert response.status_code == 401


async def test_previous_secret_keys_still_verify_during_rotation(
    db_url: str, clock: FakeClock, outbox
) -> None:
    old = make_settings(db_url, secret_key="old-key-" + "o" * 40)
    new = make_settings(
        db_url, secret_key="new-key-" + "n" * 40, secret_key_fallbacks="old-key-" + "o" * 40
    )
    async with (
        running(build_app(old, clock, outbox)) as old_app,
        running(build_app(new, clock, outbox)) as new_app,
        client_for(new_app) as http,
    ):
        user = await create_user(old_app.ctx)
        assert (
            await http.get(new_app.url("users:get-current-user"), headers=user.headers)
        ).status_code == 200


async def test_refresh_rotates_and_the_old_token_is_used_up(
    app: RunningApp, client: httpx.AsyncClient
) -> None:
    user = await create_user(app.ctx)
    first = await login(app, client, user)
    rotated = await refresh(app, client, first["refresh_token"])
    assert rotated.status_code == 200
    second = rotated.json()
    assert second["refresh_token"] != first["refresh_token"]
    assert second["token_type"] == "bearer"
    assert (
        await client.get(app.url("users:get-current-user"), headers=bearer(second["access_token"]))
    ).status_code == 200
    assert (await refresh(app, client, second["refresh_token"])).status_code == 200


async def test_reusing_a_used_refresh_token_revokes_its_whole_family(
    app: RunningApp, client: httpx.AsyncClient
) -> None:
    user = await create_user(app.ctx)
    stolen = (await login(app, client, user))["refresh_token"]
    legit = (await refresh(app, client, stolen)).json()["refresh_token"]
    other_session = (await login(app, client, user))["refresh_token"]

    replay = await refresh(app, client, stolen)
    assert replay.status_code == 401
    assert replay.headers["www-authenticate"] == "Bearer"
    assert (await refresh(app, client, legit)).status_code == 401  # descendant revoked
    assert (await refresh(app, client, other_session)).status_code == 200  # other login untouched


async def test_concurrent_refreshes_of_one_token_mint_at_most_one_live_session(
    app: RunningApp, client: httpx.AsyncClient
) -> None:
    user = await create_user(app.ctx)
    token = (await login(app, client, user))["refresh_token"]
    results = await asyncio.gather(*(refresh(app, client, token) for _ in range(5)))
    assert [r.status_code for r in results].count(200) <= 1
    for response in results:
        if response.status_code == 200:  # the family was revoked by the losers' reuse
            assert (await refresh(app, client, response.json()["refresh_token"])).status_code == 401


async def test_refresh_token_expires(
    app: RunningApp, client: httpx.AsyncClient, db_url: str
) -> None:
    user = await create_user(app.ctx)
    token = (await login(app, client, user))["refresh_token"]
    await database_time_passes(db_url, 30 * 24 * 3600 + 1)
    assert (await refresh(app, client, token)).status_code == 401


@pytest.mark.parametrize("token", ["garbage", "a.b", "x" * 2000, ""])
async def test_bad_refresh_tokens(app: RunningApp, client: httpx.AsyncClient, token: str) -> None:
    response = await refresh(app, client, token)
    assert response.status_code in {401, 422}
    assert "detail" in response.json()


async def test_refresh_tokens_are_stored_only_as_hashes(
    app: RunningApp, client: httpx.AsyncClient, sql
) -> None:
    user = await create_user(app.ctx)
    token = (await login(app, client, user))["refresh_token"]
    stored = await sql.fetch("SELECT token_hash FROM refresh_tokens WHERE user_id = $1", user.id)
    assert len(stored) == 1
    assert len(stored[0]["token_hash"]) == 32
    assert token.encode() not in stored[0]["token_hash"]


async def test_logout_ends_the_refresh_token_and_its_descendants(
    app: RunningApp, client: httpx.AsyncClient
) -> None:
    user = await create_user(app.ctx)
    first = (await login(app, client, user))["refresh_token"]
    second = (await refresh(app, client, first)).json()["refresh_token"]
    response = await client.post(app.url("users:logout"), json={"refresh_token": second})
    assert response.status_code == 204
    assert response.content == b""
    assert (await refresh(app, client, second)).status_code == 401
    again = await client.post(app.url("users:logout"), json={"refresh_token": second})
    assert again.status_code == 401


async def test_logout_with_an_unknown_token_is_401(
    app: RunningApp, client: httpx.AsyncClient
) -> None:
    token, _ = app.ctx.tokens.issue_random("refresh")
    response = await client.post(app.url("users:logout"), json={"refresh_token": token})
    assert response.status_code == 401
