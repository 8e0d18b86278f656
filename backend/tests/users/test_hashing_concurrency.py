"""Argon2 runs in worker threads: the event loop keeps serving while logins hash."""

from __future__ import annotations

import asyncio
import time

import pytest

from backend.app import create_app
from backend.config import Settings
from backend.core.mail import LoggingOutbox
from backend.core.security import Argon2Parameters, Passwords
from backend.tests.conftest import FakeClock, client_for, running
from backend.tests.factories import create_user

pytestmark = pytest.mark.anyio


@pytest.mark.slow
async def test_health_answers_while_logins_hash(
    settings: Settings, clock: FakeClock, outbox: LoggingOutbox
) -> None:
    # Production-like cost: each verification takes tens of milliseconds of CPU.
    passwords = Passwords(Argon2Parameters(time_cost=3, memory_cost_kib=65536, parallelism=4))
    application = create_app(settings, clock=clock, outbox=outbox, passwords=passwords)
    async with running(application) as app, client_for(app) as http:
        user = await create_user(app.ctx)
        finished: list[float] = []

        async def login() -> None:
            response = await http.post(
                app.url("users:login-email-and-password"),
                data={"username": user.email, "password": user.password},
            )
            assert response.status_code == 200
            finished.append(time.perf_counter())

        logins = [asyncio.create_task(login()) for _ in range(6)]
        await asyncio.sleep(0.005)  # the logins are now hashing
        health = await http.get("/health/live")
        health_done = time.perf_counter()
        await asyncio.gather(*logins)
    assert health.status_code == 200
    # The probe was answered before most of the hashing work was done.
    assert health_done < sorted(finished)[len(finished) // 2]
