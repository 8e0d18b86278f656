"""Rate limits: per (account, address) failures, per address requests, shared by instances."""

from __future__ import annotations

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
from backend.tests.factories import create_user

pytestmark = pytest.mark.anyio


def from_address(address: str) -> dict[str, str]:
    return {"X-Forwarded-For": address}


async def attempt(
    app: RunningApp, http: httpx.AsyncClient, email: str, password: str, address: str
) -> httpx.Response:
    return await http.post(
        app.url("users:login-email-and-password"),
        data={"username": email, "password": password},
        headers=from_address(address),
    )


async def test_failed_logins_lock_the_account_for_that_address_only_across_instances(
    db_url: str, clock: FakeClock, outbox: LoggingOutbox
) -> None:
    settings = make_settings(db_url, trusted_proxies="127.0.0.1")
    async with (
        running(build_app(settings, clock, outbox)) as one,
        running(build_app(settings, clock, outbox)) as two,
        client_for(one) as http_one,
        client_for(two) as http_two,
    ):
        user = await create_user(one.ctx)
        for i in range(10):  # alternate instances: the counter lives in PostgreSQL
            app, http = (one, http_one) if i % 2 else (two, http_two)
            response = await attempt(app, http, user.email, "wrong-password", "203.0.113.7")
            assert response.status_code == 401
        blocked = await attempt(one, http_one, user.email, user.password, "203.0.113.7")
        assert blocked.status_code == 429
        assert int(blocked.headers["retry-after"]) >= 1
        assert blocked.json()["detail"]
        # the attacker cannot lock the victim out from another address
        elsewhere = await attempt(two, http_two, user.email, user.password, "198.51.100.9")
        assert elsewhere.status_code == 200
        # the window passes (on the database's clock: the instances' clocks do not matter)
        await database_time_passes(db_url, 15 * 60)
        assert (
            await attempt(one, http_one, user.email, user.password, "203.0.113.7")
        ).status_code == 200


async def test_a_successful_login_clears_the_failure_count(
    app: RunningApp, client: httpx.AsyncClient
) -> None:
    user = await create_user(app.ctx)
    for _ in range(9):
        await attempt(app, client, user.email, "wrong-password", "127.0.0.1")
    assert (await attempt(app, client, user.email, user.password, "127.0.0.1")).status_code == 200
    for _ in range(9):
        assert (
            await attempt(app, client, user.email, "wrong-password", "127.0.0.1")
        ).status_code == 401


async def test_requests_per_address_are_limited_for_login_and_reset(
    db_url: str, clock: FakeClock, outbox: LoggingOutbox
) -> None:
    settings = make_settings(db_url, trusted_proxies="127.0.0.0/8", auth_rate_limit_per_address=5)
    async with running(build_app(settings, clock, outbox)) as app, client_for(app) as http:
        user = await create_user(app.ctx)
        for _ in range(3):
            assert (
                await attempt(app, http, user.email, user.password, "192.0.2.1")
            ).status_code == 200
        for _ in range(2):
            reset = await http.post(
                app.url("users:request-password-reset"),
                json={"email": user.email},
                headers=from_address("192.0.2.1"),
            )
            assert reset.status_code == 202
        limited = await http.post(
            app.url("users:request-password-reset"),
            json={"email": user.email},
            headers=from_address("192.0.2.1"),
        )
        assert limited.status_code == 429
        assert "retry-after" in limited.headers
        assert (await attempt(app, http, user.email, user.password, "192.0.2.1")).status_code == 429
        assert (await attempt(app, http, user.email, user.password, "192.0.2.2")).status_code == 200
        await database_time_passes(db_url, 60)
        assert (await attempt(app, http, user.email, user.password, "192.0.2.1")).status_code == 200


async def test_forwarded_for_is_ignored_from_untrusted_peers(
    app: RunningApp, client: httpx.AsyncClient
) -> None:
    user = await create_user(app.ctx)
    for i in range(10):  # rotating X-Forwarded-For does not help: the peer is not trusted
        await attempt(app, client, user.email, "wrong-password", f"192.0.2.{i}")
    assert (await attempt(app, client, user.email, user.password, "192.0.2.200")).status_code == 429


async def test_register_and_reset_confirm_count_against_the_address_limit(
    db_url: str, clock: FakeClock, outbox: LoggingOutbox
) -> None:
    """Both cost an Argon2 hash: one address cannot make the service hash without bound."""
    settings = make_settings(db_url, trusted_proxies="127.0.0.0/8", auth_rate_limit_per_address=3)
    async with running(build_app(settings, clock, outbox)) as app, client_for(app) as http:
        for n in range(2):
            created = await http.post(
                app.url("users:register-new-user"),
                json={
                    "new_user": {
                        "email": f"limit{n}@example.com",
                        "username": f"limit{n}",
                        "password": "violet harbour stone",
                    }
                },
                headers=from_address("192.0.2.9"),
            )
            assert created.status_code == 201
        confirm = await http.post(
            app.url("users:confirm-password-reset"),
            json={"token": "forged", "new_password": "violet harbour stone"},
            headers=from_address("192.0.2.9"),
        )
        assert confirm.status_code == 400  # the third request: counted, still answered
        for route, body in (
            ("users:confirm-password-reset", {"token": "x", "new_password": "violet stone 1"}),
            (
                "users:register-new-user",
                {
                    "new_user": {
                        "email": "l9@example.com",
                        "username": "l9x",
                        "password": "ab cd ef gh",
                    }
                },
            ),
        ):
            limited = await http.post(app.url(route), json=body, headers=from_address("192.0.2.9"))
            assert limited.status_code == 429, route
        elsewhere = await http.post(
            app.url("users:confirm-password-reset"),
            json={"token": "forged", "new_password": "violet harbour stone"},
            headers=from_address("192.0.2.10"),
        )
        assert elsewhere.status_code == 400


def skewed(seconds: float) -> FakeClock:
    """The clock of an instance that runs `seconds` ahead (negative: behind)."""
    clock = FakeClock()
    clock.advance(seconds)
    return clock


@pytest.mark.parametrize("skew", [-5, 5, -900])
async def test_instances_with_different_clocks_count_into_the_same_window(
    db_url: str, outbox: LoggingOutbox, skew: int
) -> None:
    """The window is the database's: an instance whose clock is off (by a few seconds, or
    a whole window) neither resets the limit early nor keeps it late."""
    settings = make_settings(db_url, trusted_proxies="127.0.0.1")
    async with (
        running(build_app(settings, FakeClock(), outbox)) as one,
        running(build_app(settings, skewed(skew), outbox)) as two,
        client_for(one) as http_one,
        client_for(two) as http_two,
    ):
        user = await create_user(one.ctx)
        for _ in range(10):
            await attempt(one, http_one, user.email, "wrong-password", "203.0.113.8")
        answers = [
            await attempt(app, http, user.email, user.password, "203.0.113.8")
            for app, http in ((one, http_one), (two, http_two))
        ]
        assert [a.status_code for a in answers] == [429, 429]
        retry_after = [int(a.headers["retry-after"]) for a in answers]
        assert abs(retry_after[0] - retry_after[1]) <= 1
        await database_time_passes(db_url, 900)
        again = await attempt(two, http_two, user.email, user.password, "203.0.113.8")
        assert again.status_code == 200
