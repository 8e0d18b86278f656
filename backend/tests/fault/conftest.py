"""The fault suite (`make fault`): one lab for the run, scenarios one after another (they
share a PostgreSQL that they stop, kill and cut off). Each scenario prints one line with its
figures; the lines are collected and printed again at the end of the run."""

from __future__ import annotations

import asyncio
import itertools
import random
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from backend.tests.fault.lab import NetnsPostgres, Request, create_database, missing_prerequisites
from backend.tests.servers import Gunicorn, gunicorn_process, register_over_http

# Short deadlines keep the run short; the invariants do not depend on the values.
REQUEST_TIMEOUT = 3.0
SERVER_ENV = {
    "REQUEST_TIMEOUT_SECONDS": str(REQUEST_TIMEOUT),
    "DB_POOL_MAX_SIZE": "10",
    "DB_STATEMENT_TIMEOUT_MS": "2000",
    "DB_LOCK_TIMEOUT_MS": "1000",
    "DB_POOL_ACQUIRE_TIMEOUT_SECONDS": "1",
    "LOG_LEVEL": "WARNING",
    "AUTH_RATE_LIMIT_PER_ADDRESS": "100000",
}


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    reason = missing_prerequisites()
    for item in items:
        if "fault" in item.keywords and reason:
            item.add_marker(pytest.mark.skip(reason=f"fault lab cannot run here: {reason}"))


def report(name: str, line: str) -> None:
    """The scenario's one line, as it ends."""
    print(f"\n{name:<34} {line}")


@dataclass
class Lab:
    pg: NetnsPostgres
    admin_url: str
    app_url: str
    folder: Path


@pytest.fixture(scope="session")
def lab() -> Iterator[Lab]:
    pg = NetnsPostgres()
    try:
        pg.create()
        admin_url, app_url = create_database(pg)
        yield Lab(pg, admin_url, app_url, pg.folder)
    finally:
        pg.destroy()


@dataclass
class Service:
    server: Gunicorn
    log: Path
    traffic: Callable[[], Request]
    tokens: list[str]


def _traffic(tokens: list[str], cleaning_ids: list[int]) -> Callable[[], Request]:
    """Reads and writes as clients make them: a cleaning, the feed, me, new cleanings."""
    counter = itertools.count()

    def next_request() -> Request:
        n = next(counter)
        token = tokens[n % len(tokens)]
        roll = random.random()
        if roll < 0.35:
            return Request("GET", f"/api/cleanings/{random.choice(cleaning_ids)}/", token=token)
        if roll < 0.55:
            return Request("GET", "/api/feed/cleanings/?page_chunk_size=5", token=token)
        if roll < 0.65:
            return Request("GET", "/api/users/me/", token=token)
        body = {"new_cleaning": {"name": f"job {n}", "price": 12.5, "cleaning_type": "spot_clean"}}
        return Request("POST", "/api/cleanings/", body=body, token=token)

    return next_request


def _accounts(base: str, count: int) -> tuple[list[str], list[int]]:
    tokens, cleanings = [], []
    with httpx.Client(base_url=base, timeout=10) as http:
        for _ in range(count):
            token = register_over_http(http, "fault").access_token
            tokens.append(token)
            job = http.post(
                "/api/cleanings/",
                json={"new_cleaning": {"name": "seed job", "price": 20}},
                headers={"Authorization": f"Bearer {token}"},
            )
            assert job.status_code == 201, job.text
            cleanings.append(job.json()["id"])
    return tokens, cleanings


@contextmanager
def service(
    lab: Lab, tmp: Path, *, database_url: str | None = None, **env: str
) -> Iterator[Service]:
    """gunicorn (2 workers) on the lab's database as the DML-only role, with users and jobs."""
    log = tmp / "gunicorn.log"
    settings = {**SERVER_ENV, **env}
    with gunicorn_process(
        database_url or lab.app_url, workers=2, log_file=log, wait_for="/health/live", env=settings
    ) as server:
        tokens, cleanings = _accounts(server.base, 4)
        yield Service(server, log, _traffic(tokens, cleanings), tokens)


@pytest.fixture
def running(lab: Lab, tmp_path: Path) -> Iterator[Service]:
    with service(lab, tmp_path) as started:
        yield started


def later(delay: float, action: Callable[[], object]) -> asyncio.Task[object]:
    """Run a blocking fault action after `delay` seconds, while the load goes on."""

    async def run() -> object:
        await asyncio.sleep(delay)
        return await asyncio.to_thread(action)

    return asyncio.ensure_future(run())
