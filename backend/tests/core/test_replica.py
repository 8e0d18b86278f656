"""DATABASE_REPLICA_URL against a real streaming replica (scripts/pg-cluster replica): public
reads go to it while it is fresh, the caller's own data and anything the replica lacks come
from the primary, and a replica that falls behind or goes down costs no request."""

from __future__ import annotations

import asyncio
import subprocess
import tempfile
import time
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path

import asyncpg
import httpx
import pytest

from backend.core.mail import LoggingOutbox
from backend.tests.conftest import (
    FakeClock,
    RunningApp,
    build_app,
    client_for,
    make_settings,
    run_migrations,
    running,
)
from backend.tests.servers import ROOT, free_port, gunicorn_process

pytestmark = [pytest.mark.anyio, pytest.mark.slow, pytest.mark.xdist_group("replica")]

MAX_LAG = 1.0


@dataclass(frozen=True)
class Replicated:
    primary: str  # the app database on the primary
    replica: str  # the same database on the replica
    replica_dir: Path
    replica_port: int


def pg_cluster(*args: str) -> None:
    subprocess.run([str(ROOT / "scripts" / "pg-cluster"), *args], check=True)  # noqa: S603


@pytest.fixture(scope="module")
def replicated() -> Iterator[Replicated]:
    with tempfile.TemporaryDirectory(prefix="phresh-test-replica-") as name:
        folder = Path(name)
        folder.chmod(
            0o755
        )  # reachable by the postgres user that runs the clusters when we are root
        yield from _primary_and_replica(folder)


def _primary_and_replica(folder: Path) -> Iterator[Replicated]:
    primary_port, replica_port = free_port(), free_port()
    primary_dir, replica_dir = folder / "primary", folder / "replica"
    pg_cluster("start", str(primary_dir), str(primary_port), "-c fsync=off")
    try:
        admin = f"postgresql://postgres@127.0.0.1:{primary_port}/postgres"
        asyncio.run(_execute(admin, "CREATE DATABASE phresh"))
        run_migrations(f"postgresql://postgres@127.0.0.1:{primary_port}/phresh")
        pg_cluster("replica", admin, str(replica_dir), str(replica_port))
        try:
            yield Replicated(
                f"postgresql://postgres@127.0.0.1:{primary_port}/phresh",
                f"postgresql://postgres@127.0.0.1:{replica_port}/phresh",
                replica_dir,
                replica_port,
            )
        finally:
            pg_cluster("stop", str(replica_dir))
    finally:
        pg_cluster("stop", str(primary_dir))


async def _execute(url: str, statement: str, *args: object) -> object:
    connection = await asyncpg.connect(url)
    try:
        return await connection.fetchval(statement, *args)
    finally:
        await connection.close()


@pytest.fixture
async def app(replicated: Replicated) -> AsyncIterator[RunningApp]:
    settings = make_settings(
        replicated.primary,
        database_replica_url=replicated.replica,
        replica_max_lag_seconds=MAX_LAG,
    )
    async with running(build_app(settings, FakeClock(), LoggingOutbox())) as started:
        yield started


async def register(http: httpx.AsyncClient, name: str) -> dict[str, str]:
    name = f"{name}_{time.monotonic_ns() % 10**9}"
    created = await http.post(
        "/api/users/",
        json={
            "new_user": {
                "email": f"{name}@example.com",
                "username": name,
                "password": "amber-kettle-9-lantern",
            }
        },
    )
    assert created.status_code == 201, created.text
    token = created.json()["access_token"]["access_token"]
    return {"Authorization": f"Bearer {token}", "username": name}


async def replica_state(
    http: httpx.AsyncClient, wanted: str, within: float = 10
) -> dict[str, object]:
    deadline = time.monotonic() + within
    while True:
        body: dict[str, object] = (await http.get("/health/ready")).json()
        if body.get("replica") == wanted or time.monotonic() > deadline:
            assert body.get("replica") == wanted, body
            return body
        await asyncio.sleep(0.05)


async def post_job(http: httpx.AsyncClient, owner: dict[str, str], name: str) -> int:
    created = await http.post(
        "/api/cleanings/",
        json={"new_cleaning": {"name": name, "price": 20}},
        headers={"Authorization": owner["Authorization"]},
    )
    assert created.status_code == 201, created.text
    return int(created.json()["id"])


def feed_ids(response: httpx.Response) -> set[int]:
    assert response.status_code == 200, response.text
    return {item["id"] for item in response.json()}


async def test_public_reads_follow_the_replica_while_fresh_and_the_primary_otherwise(
    app: RunningApp, replicated: Replicated
) -> None:
    async with client_for(app) as http:
        owner, viewer = await register(http, "owner"), await register(http, "viewer")
        auth_owner = {"Authorization": owner["Authorization"]}
        auth_viewer = {"Authorization": viewer["Authorization"]}
        await replica_state(http, "fresh")
        metrics = (await http.get("/metrics")).text
        assert "phresh_db_replica_fresh 1.0" in metrics, metrics
        assert "phresh_db_replica_lag_seconds " in metrics
        await _execute(replicated.replica, "SELECT pg_wal_replay_pause()")
        try:
            job = await post_job(http, owner, "lagging job")
            # The replica has not replayed the job: the primary answers a read of it by
            # another user (the replica has no such row) and the owner's own read.
            assert (
                await http.get(f"/api/cleanings/{job}/", headers=auth_viewer)
            ).status_code == 200
            assert (await http.get(f"/api/cleanings/{job}/", headers=auth_owner)).status_code == 200
            # ...while the feed, a public list, comes from the (still fresh) replica.
            feed = await http.get("/api/feed/cleanings/", headers=auth_viewer)
            assert job not in feed_ids(feed), "the feed did not come from the replica"
            # Past the lag bound the replica is behind: the primary serves the feed.
            body = await replica_state(http, "behind", within=MAX_LAG + 2)
            assert body["status"] == "ok"
            assert "phresh_db_replica_fresh 0.0" in (await http.get("/metrics")).text
            feed = await http.get("/api/feed/cleanings/", headers=auth_viewer)
            assert job in feed_ids(feed)
        finally:
            await _execute(replicated.replica, "SELECT pg_wal_replay_resume()")
        await replica_state(http, "fresh")
        feed = await http.get("/api/feed/cleanings/", headers=auth_viewer)
        assert job in feed_ids(feed)  # from the replica, caught up


async def test_a_read_the_replica_serves_still_waits_for_the_primarys_check_of_the_caller(
    app: RunningApp, replicated: Replicated
) -> None:
    """The replica cannot vouch for a token: it may not have replayed what ended it. The
    feed comes from the replica while it is fresh, and its answer waits for the check on
    the primary (core/auth.py)."""
    async with client_for(app) as http:
        viewer = await register(http, "viewer")
        auth_viewer = {"Authorization": viewer["Authorization"]}
        job = await post_job(http, await register(http, "owner"), "a job in the feed")
        await replica_state(http, "fresh")
        seen = "SELECT count(*) FROM cleanings WHERE id = $1"  # committed after the viewer
        deadline = time.monotonic() + 10
        while await _execute(replicated.replica, seen, job) == 0:  # the viewer and job replayed
            assert time.monotonic() < deadline
            await asyncio.sleep(0.02)
        await _execute(replicated.replica, "SELECT pg_wal_replay_pause()")
        try:
            await _execute(
                replicated.primary,
                "UPDATE users SET is_active = false WHERE username = $1",
                viewer["username"],
            )
            feed = await http.get("/api/feed/cleanings/", headers=auth_viewer)
            assert feed.status_code == 401, feed.text
            assert feed.json()["detail"] == "Not an active user."
            body = (await http.get("/health/ready")).json()
            assert body["replica"] == "fresh", "the feed did not come from the replica"
        finally:
            await _execute(replicated.replica, "SELECT pg_wal_replay_resume()")


async def test_a_replica_that_goes_down_costs_no_request(
    app: RunningApp, replicated: Replicated
) -> None:
    async with client_for(app) as http:
        owner, viewer = await register(http, "owner"), await register(http, "viewer")
        auth_viewer = {"Authorization": viewer["Authorization"]}
        job = await post_job(http, owner, "a job")
        await replica_state(http, "fresh")
        paths = [
            "/api/feed/cleanings/",
            f"/api/cleanings/{job}/",
            f"/api/profiles/{owner['username']}/",
            f"/api/users/{owner['username']}/evaluations/stats/",
        ]
        statuses: list[int] = []
        stop_at = time.monotonic() + 4

        async def reader(n: int) -> None:
            while time.monotonic() < stop_at:
                response = await http.get(paths[n % len(paths)], headers=auth_viewer)
                statuses.append(response.status_code)
                n += 1

        async def stop_the_replica() -> None:
            await asyncio.sleep(1)
            await asyncio.to_thread(pg_cluster, "stop", str(replicated.replica_dir))

        try:
            await asyncio.gather(*(reader(n) for n in range(4)), stop_the_replica())
            await replica_state(http, "down")
        finally:
            pg_cluster("start", str(replicated.replica_dir), str(replicated.replica_port))
        assert statuses and set(statuses) == {200}, sorted(set(statuses))
        await replica_state(http, "fresh")  # and back once it answers


async def test_under_gunicorn_each_worker_watches_the_replica_and_falls_back(
    replicated: Replicated, tmp_path: Path
) -> None:
    """The same behaviour as served: 2 gunicorn workers, each with its own lag monitor
    (started by the lifespan), the metrics summed over workers; the replica stopped while
    clients read costs no request."""
    env = {"DATABASE_REPLICA_URL": replicated.replica, "REPLICA_MAX_LAG_SECONDS": str(MAX_LAG)}
    with gunicorn_process(
        replicated.primary, workers=2, log_file=tmp_path / "gunicorn.log", env=env
    ) as server:
        async with httpx.AsyncClient(base_url=server.base, timeout=10) as http:
            owner, viewer = await register(http, "owner"), await register(http, "viewer")
            job = await post_job(http, owner, "served job")
            await replica_state(http, "fresh")
            deadline = time.monotonic() + 10  # both workers report fresh (the gauge's min)
            while "phresh_db_replica_fresh 1.0" not in (await http.get("/metrics")).text:
                assert time.monotonic() < deadline, "a worker never reported the replica fresh"
                await asyncio.sleep(0.1)
            statuses: list[int] = []
            stop_at = time.monotonic() + 3

            async def reader() -> None:
                while time.monotonic() < stop_at:
                    response = await http.get(
                        f"/api/cleanings/{job}/", headers={"Authorization": viewer["Authorization"]}
                    )
                    statuses.append(response.status_code)

            async def stop_the_replica() -> None:
                await asyncio.sleep(0.5)
                await asyncio.to_thread(pg_cluster, "stop", str(replicated.replica_dir))

            try:
                await asyncio.gather(reader(), reader(), stop_the_replica())
                await replica_state(http, "down")
            finally:
                pg_cluster("start", str(replicated.replica_dir), str(replicated.replica_port))
            assert statuses and set(statuses) == {200}, sorted(set(statuses))
