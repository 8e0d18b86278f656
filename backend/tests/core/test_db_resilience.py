"""The database layer under failure: down, slow, locked, cancelled - always bounded, always
JSON, never a leaked connection."""

from __future__ import annotations

import asyncio
import random
import time
from urllib.parse import urlsplit

import asyncpg
import httpx
import pytest

from backend.core.db import Database, DatabaseOptions, request_wait_budget
from backend.core.errors import DatabaseUnavailable
from backend.core.sql import parse_queries
from backend.tests.conftest import (
    FakeClock,
    build_app,
    client_for,
    make_settings,
    role_timeouts_behind_pgbouncer,
    running,
)
from backend.tests.factories import UserFixture, create_user
from backend.tests.support import TCPProxy

pytestmark = pytest.mark.anyio

SLEEP = parse_queries("-- name: sleep :value\nSELECT pg_sleep(:seconds)", "test")["sleep"]
ECHO = parse_queries("-- name: echo :value\nSELECT CAST(:n AS int)", "test")["echo"]
COUNT_USERS = parse_queries("-- name: count_users :value\nSELECT count(*) FROM users", "t")[
    "count_users"
]


def via(proxy: TCPProxy, db_url: str) -> str:
    parts = urlsplit(db_url)
    return parts._replace(netloc=f"{parts.username or 'postgres'}@127.0.0.1:{proxy.port}").geturl()


async def test_database_down_gives_fast_503_and_recovers_by_itself(
    db_url: str, clock: FakeClock, outbox
) -> None:
    parts = urlsplit(db_url)
    proxy = TCPProxy(parts.hostname or "127.0.0.1", parts.port or 5432)
    await proxy.start()
    settings = make_settings(via(proxy, db_url))
    async with running(build_app(settings, clock, outbox)) as app, client_for(app) as http:
        user = await create_user(app.ctx)
        assert (await http.get("/api/users/me/", headers=user.headers)).status_code == 200

        await proxy.stop()
        started = time.perf_counter()
        down = await http.get("/api/users/me/", headers=user.headers)
        ready = await http.get("/health/ready")
        elapsed = time.perf_counter() - started
        assert down.status_code == 503
        assert down.headers["retry-after"] == "1"
        assert down.json()["code"] == "database_unavailable"
        assert ready.status_code == 503
        assert "detail" in ready.json()
        assert elapsed < 5  # two requests, each bounded by the ~1 s connect budget
        # A write (its caller's check on its own first) and a transaction are 503 too.
        for method, url, body in (
            ("POST", "/api/cleanings/", {"new_cleaning": {"name": "windows", "price": 10}}),
            ("PUT", "/api/profiles/me/", {"profile_update": {"bio": "hi"}}),
        ):
            write = await http.request(method, url, json=body, headers=user.headers)
            assert write.status_code == 503, write.text

        await proxy.start()
        back = await http.get("/api/users/me/", headers=user.headers)
        assert back.status_code == 200
        assert (await http.get("/health/ready")).status_code == 200
    await proxy.stop()


async def test_app_starts_while_the_database_is_down(clock: FakeClock, outbox) -> None:
    settings = make_settings("postgresql://postgres@127.0.0.1:1/nowhere", db_pool_warm_size=2)
    async with running(build_app(settings, clock, outbox)) as app, client_for(app) as http:
        assert (await http.get("/health/live")).status_code == 200
        assert (await http.get("/health/ready")).status_code == 503
        response = await http.post(
            "/api/users/login/token/", data={"username": "a@example.com", "password": "whatever1"}
        )
        assert response.status_code == 503


async def test_statement_timeout_is_503_not_a_hang(db_url: str) -> None:
    db = Database(db_url, DatabaseOptions(warm_size=0, statement_timeout_ms=200))
    await db.connect()
    try:
        with pytest.raises(DatabaseUnavailable):
            await db.fetch_value(SLEEP, seconds=5)
        assert await db.fetch_value(COUNT_USERS) == 0  # the connection is usable again
    finally:
        await db.disconnect()


async def change_password_while_the_user_row_is_locked(
    db_url: str, http: httpx.AsyncClient, user: UserFixture
) -> httpx.Response:
    """PUT /me/password/ (a transaction that updates the user's row) while another session
    holds that row locked."""
    blocker = await asyncpg.connect(db_url)
    try:
        async with blocker.transaction():
            await blocker.execute("SELECT 1 FROM users WHERE id = $1 FOR UPDATE", user.id)
            return await http.put(
                "/api/users/me/password/",
                json={
                    "password_update": {
                        "current_password": user.password,
                        "new_password": "another-pass-1",
                    }
                },
                headers=user.headers,
            )
    finally:
        await blocker.close()


async def test_lock_timeout_is_503(db_url: str, clock: FakeClock, outbox) -> None:
    settings = make_settings(db_url, db_lock_timeout_ms=200)
    await role_timeouts_behind_pgbouncer(db_url, lock_timeout="200ms")
    async with running(build_app(settings, clock, outbox)) as app, client_for(app) as http:
        user = await create_user(app.ctx)
        response = await change_password_while_the_user_row_is_locked(db_url, http, user)
    assert response.status_code == 503


async def test_pool_acquire_wait_is_bounded(db_url: str) -> None:
    db = Database(db_url, DatabaseOptions(warm_size=0, max_size=1, acquire_timeout=0.2))
    await db.connect()
    try:
        hog = asyncio.create_task(db.fetch_value(SLEEP, seconds=1))
        await asyncio.sleep(0.1)
        started = time.perf_counter()
        with pytest.raises(DatabaseUnavailable):
            await db.fetch_value(COUNT_USERS)
        assert time.perf_counter() - started < 1
        await hog
    finally:
        await db.disconnect()


async def test_a_busy_pool_serves_waiters_in_arrival_order(db_url: str) -> None:
    """A connection handed back goes to the caller that has waited longest, not to whichever
    caller asks next. asyncpg's own queue lets a newcomer that runs before the woken waiter
    take the connection, and puts that waiter back at the end of the line: under uvloop a
    request read from a socket runs just then, and on 2 workers at 64 connections the pool
    waits had a median of 10 µs and a p99 of 114 ms. One connection runs one statement at a
    time, so the order statements finish is the order it was granted."""
    db = Database(db_url, DatabaseOptions(warm_size=0, max_size=1))
    await db.connect()
    arrived: list[int] = []
    served: list[int] = []

    async def request(n: int) -> None:
        arrived.append(n)  # in the same step as the call: the arrival order
        served.append(await db.fetch_value(ECHO, n=n))

    try:
        requests = []
        for n in range(300):  # one new request per loop turn, as on a busy server
            requests.append(asyncio.create_task(request(n)))
            await asyncio.sleep(0)
        await asyncio.gather(*requests)
    finally:
        await db.disconnect()
    assert len(served) == 300
    assert served == arrived


@pytest.mark.slow
async def test_cancellation_storm_leaves_the_pool_whole(
    db_url: str, clock: FakeClock, outbox
) -> None:
    """2,000 requests that run transactions, each cancelled at a random point (BEGIN,
    statements, COMMIT, release): afterwards no connection is lost or stuck in a transaction."""
    settings = make_settings(db_url, db_pool_max_size=3)
    rng = random.Random(1234)
    async with running(build_app(settings, clock, outbox)) as app, client_for(app) as http:
        user = await create_user(app.ctx)
        tokens = app.ctx.tokens

        async def refresh_with_deadline() -> None:
            token, _ = tokens.issue_random(
                "refresh"
            )  # well signed, unknown: BEGIN/UPDATE/COMMIT + reads
            try:
                async with asyncio.timeout(rng.uniform(0, 0.006)):
                    await http.post("/api/users/token/refresh/", json={"refresh_token": token})
            except TimeoutError:
                pass

        for _ in range(40):
            await asyncio.gather(*(refresh_with_deadline() for _ in range(50)))

        pool = app.ctx.db.pool
        assert pool.get_size() - pool.get_idle_size() == 0  # nothing checked out
        assert pool.get_size() <= 3
        # Every connection works, and none is stuck in a transaction.
        response = await http.get("/api/users/me/", headers=user.headers)
        assert response.status_code == 200
        connections = [await pool.acquire(timeout=2) for _ in range(3)]
        for connection in connections:
            assert await connection.fetchval("SELECT 1") == 1
            await pool.release(connection)
    checker = await asyncpg.connect(db_url)
    try:
        stuck = await checker.fetchval(
            "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() "
            "AND state LIKE 'idle in transaction%'"
        )
    finally:
        await checker.close()
    assert stuck == 0


async def test_sessions_ended_by_the_server_are_never_a_500(
    db_url: str, clock: FakeClock, outbox, sql
) -> None:
    """pg_terminate_backend (what `pg_ctl stop -m fast` or a crash does to idle pool
    connections: FATAL 57P01) while requests run: reads retry on a fresh connection, nothing
    answers 500, and the pool recovers."""
    settings = make_settings(db_url, db_pool_max_size=4)
    async with running(build_app(settings, clock, outbox)) as app, client_for(app) as http:
        user = await create_user(app.ctx)
        url = app.url("users:get-current-user")
        statuses: list[int] = []
        stop = asyncio.Event()

        async def terminate() -> None:
            while not stop.is_set():
                await sql.execute(
                    "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                    "WHERE datname = current_database() AND application_name = 'phresh'"
                )
                await asyncio.sleep(0.01)

        async def load() -> None:
            for _ in range(40):
                statuses.append((await http.get(url, headers=user.headers)).status_code)

        killer = asyncio.create_task(terminate())
        await asyncio.gather(*(load() for _ in range(4)))
        stop.set()
        await killer
        assert set(statuses) <= {200, 503}, statuses
        assert statuses.count(200) > 0
        after = await http.get(url, headers=user.headers)
        assert after.status_code == 200


async def test_the_deadline_is_a_hard_bound_under_a_silent_partition(
    db_url: str, clock: FakeClock, outbox
) -> None:
    """Packets dropped, no RST: the answer comes at the request deadline (+0.5 s at most),
    not when the network heals, for a plain read and for a transaction; afterwards the pool
    serves again."""
    parts = urlsplit(db_url)
    proxy = TCPProxy(parts.hostname or "127.0.0.1", parts.port or 5432)
    await proxy.start()
    settings = make_settings(via(proxy, db_url), request_timeout_seconds=1.0)
    try:
        async with running(build_app(settings, clock, outbox)) as app, client_for(app) as http:
            user = await create_user(app.ctx)
            me = app.url("users:get-current-user")
            assert (await http.get(me, headers=user.headers)).status_code == 200
            proxy.freeze()
            for method, url, body in (
                ("GET", me, None),
                (
                    "POST",
                    app.url("cleanings:create-cleaning"),
                    {"new_cleaning": {"name": "x", "price": 1}},
                ),
            ):
                started = time.monotonic()
                response = await http.request(
                    method, url, json=body, headers=user.headers, timeout=5
                )
                elapsed = time.monotonic() - started
                assert response.status_code == 503, response.text
                assert elapsed < 1.5, (method, elapsed)
            proxy.thaw()
            deadline = time.monotonic() + 5
            while (await http.get(me, headers=user.headers)).status_code != 200:
                assert time.monotonic() < deadline
                await asyncio.sleep(0.1)
    finally:
        proxy.thaw()
        await proxy.stop()


async def test_a_transaction_the_deadline_cancels_is_503_not_500(
    db_url: str, clock: FakeClock, outbox
) -> None:
    """No lock or statement timeout: only the request deadline ends the wait, inside a
    transaction. The connection is dropped (the server rolls back) and the client gets 503."""
    settings = make_settings(
        db_url, db_lock_timeout_ms=0, db_statement_timeout_ms=0, request_timeout_seconds=0.5
    )
    await role_timeouts_behind_pgbouncer(db_url, lock_timeout="0", statement_timeout="0")
    async with running(build_app(settings, clock, outbox)) as app, client_for(app) as http:
        user = await create_user(app.ctx)
        response = await change_password_while_the_user_row_is_locked(db_url, http, user)
        assert response.status_code == 503
        assert response.json()["code"] == "request_timeout"
        assert (await http.get("/health/ready")).status_code == 200


async def count_users(db: Database, *, in_transaction: bool) -> int:
    if not in_transaction:
        return int(await db.fetch_value(COUNT_USERS))
    async with db.transaction():
        return int(await db.fetch_value(COUNT_USERS))


@pytest.mark.parametrize("in_transaction", [False, True])
async def test_pool_and_lock_waits_do_not_add_up(db_url: str, in_transaction: bool) -> None:
    """With the pool saturated and the table locked, the wait for a connection counts
    against the lock budget: the 503 comes after about `lock_timeout` from the start of the
    wait (2 s), not the pool wait plus `lock_timeout` (1.4 + 2 s)."""
    db = Database(
        db_url, DatabaseOptions(warm_size=0, max_size=1, acquire_timeout=3, lock_timeout_ms=2000)
    )
    await db.connect()
    blocker = await asyncpg.connect(db_url)
    try:
        async with blocker.transaction():
            await blocker.execute("LOCK TABLE users IN ACCESS EXCLUSIVE MODE")
            hog = asyncio.create_task(db.fetch_value(SLEEP, seconds=1.5))
            await asyncio.sleep(0.1)
            started = time.perf_counter()
            with pytest.raises(DatabaseUnavailable):
                await count_users(db, in_transaction=in_transaction)
            waited = time.perf_counter() - started
            await hog
        assert waited < 2.6, waited
        assert await db.fetch_value(COUNT_USERS) == 0  # the pool is whole again
    finally:
        await blocker.close()
        await db.disconnect()


async def test_a_lock_wait_then_a_busy_pool_do_not_add_up(db_url: str) -> None:
    """A statement that waited most of `lock_timeout` for a lock (and then got it) leaves
    the request little budget: its next wait for a busy pool ends where the budget ends
    (1.5 s from its first call), not when the pool frees up (2 s) or after
    `acquire_timeout` (4 s)."""
    db = Database(
        db_url, DatabaseOptions(warm_size=0, max_size=1, acquire_timeout=3, lock_timeout_ms=1500)
    )
    await db.connect()
    blocker = await asyncpg.connect(db_url)
    transaction = blocker.transaction()
    await transaction.start()
    await blocker.execute("LOCK TABLE users IN ACCESS EXCLUSIVE MODE")

    async def release_the_lock_and_hog_the_pool() -> None:
        await asyncio.sleep(0.9)
        hog = asyncio.create_task(db.fetch_value(SLEEP, seconds=1.0))  # queued for the pool
        await asyncio.sleep(0.1)
        await transaction.commit()
        await hog

    try:
        background = asyncio.create_task(release_the_lock_and_hog_the_pool())
        started = time.perf_counter()
        with request_wait_budget():
            assert await db.fetch_value(COUNT_USERS) == 0  # waited 1 s for the lock
            with pytest.raises(DatabaseUnavailable):
                await db.fetch_value(COUNT_USERS)  # the pool is busy for 1 s
        waited = time.perf_counter() - started
        await background
        assert waited < 1.8, waited
        assert await db.fetch_value(COUNT_USERS) == 0  # the pool is whole again
    finally:
        await blocker.close()
        await db.disconnect()


LOCK_USERS = parse_queries("-- name: lock_users :many\nSELECT id FROM users FOR UPDATE", "test")[
    "lock_users"
]


async def test_a_row_lock_outside_a_transaction_is_refused(database: Database) -> None:
    """`FOR UPDATE` in autocommit locks nothing (the lock ends with the statement): a
    programming error, refused before it reaches the server."""
    with pytest.raises(RuntimeError, match="outside a transaction"):
        await database.fetch_all(LOCK_USERS)
    async with database.transaction():
        assert await database.fetch_all(LOCK_USERS) == []
