"""Probes with a healthy database."""

from __future__ import annotations

import httpx
import pytest

from backend.tests.conftest import RunningApp

pytestmark = pytest.mark.anyio


async def test_live_and_ready(app: RunningApp, client: httpx.AsyncClient) -> None:
    live = await client.get(app.url("health:live"))
    assert live.status_code == 200
    assert live.json() == {"status": "ok"}
    ready = await client.get(app.url("health:ready"))
    assert ready.status_code == 200
    assert ready.json()["status"] == "ok"
