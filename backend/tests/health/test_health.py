"""Probes with a healthy database."""

from __future__ import annotations

import asyncio

import httpx
import pytest
from alembic.script import ScriptDirectory

from backend.core.mail import LoggingOutbox
from backend.core.schema import MIGRATIONS_DIR, expected_revision
from backend.tests.conftest import (
    FakeClock,
    RunningApp,
    build_app,
    client_for,
    make_settings,
    run_migrations,
    running,
)

pytestmark = pytest.mark.anyio


async def test_live_and_ready(app: RunningApp, client: httpx.AsyncClient) -> None:
    live = await client.get(app.url("health:live"))
    assert live.status_code == 200
    assert live.json() == {"status": "ok"}
    ready = await client.get(app.url("health:ready"))
    assert ready.status_code == 200
    assert ready.json()["status"] == "ok"


async def test_ready_is_503_with_both_revisions_until_the_schema_is_at_head(
    empty_database: str, clock: FakeClock, outbox: LoggingOutbox
) -> None:
    head = expected_revision()
    previous = ScriptDirectory(str(MIGRATIONS_DIR)).get_revision(head).down_revision
    assert isinstance(previous, str)
    async with (
        running(build_app(make_settings(empty_database), clock, outbox)) as started,
        client_for(started) as http,
    ):
        never_migrated = await http.get(started.url("health:ready"))
        assert never_migrated.status_code == 503
        assert never_migrated.headers["retry-after"] == "1"
        assert never_migrated.json()["expected_revision"] == head
        assert "schema_revision" not in never_migrated.json()
        assert "alembic upgrade head" in never_migrated.json()["detail"]
        # an API call on that database is a 503 too, never a 500
        register = await http.post(
            "/api/users/",
            json={"new_user": {"email": "a@example.com", "username": "ann", "password": "x" * 12}},
        )
        assert register.status_code == 503
        assert register.json()["code"] == "schema_not_migrated"

        await asyncio.to_thread(run_migrations, empty_database, previous)
        behind = await http.get(started.url("health:ready"))
        assert behind.status_code == 503
        assert behind.json()["schema_revision"] == previous
        assert behind.json()["expected_revision"] == head

        await asyncio.to_thread(run_migrations, empty_database, "head")
        ready = await http.get(started.url("health:ready"))
        assert ready.status_code == 200
        assert ready.json()["schema_revision"] == head
