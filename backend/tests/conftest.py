"""Test harness: a migrated template database per xdist worker (built by the real Alembic
migrations, once), and a fresh database cloned from it for every test (CREATE DATABASE ...
TEMPLATE), so tests are isolated, order-independent and parallel. Every database a test
run creates is named `phresh_test_*` and dropped afterwards."""

from __future__ import annotations

import asyncio
import os
import uuid
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import asyncpg
import httpx
import pytest
from alembic import command
from alembic.config import Config
from asgi_lifespan import LifespanManager

from backend.app import create_app
from backend.config import Settings
from backend.core.context import AppContext
from backend.core.db import Database, DatabaseOptions
from backend.core.mail import LoggingOutbox
from backend.core.routing import App
from backend.core.security import Argon2Parameters, Passwords

ROOT = Path(__file__).resolve().parents[2]
FAST_ARGON2 = Argon2Parameters(time_cost=1, memory_cost_kib=8, parallelism=1)


@pytest.fixture(scope="session")
def anyio_backend() -> str:
    return "asyncio"


def server_url() -> str:
    url = os.environ.get("TEST_DATABASE_URL")
    if not url:
        pytest.exit("TEST_DATABASE_URL is not set: run the tests with `make test`", returncode=4)
    return url


def database_url(name: str) -> str:
    """The test server's URL with another database name (no TLS on loopback)."""
    parts = urlsplit(server_url())
    query = parts.query
    if "sslmode" not in query and parts.hostname in {"127.0.0.1", "localhost", "::1"}:
        query = f"{query}&sslmode=disable" if query else "sslmode=disable"
    return urlunsplit(parts._replace(path=f"/{name}", query=query))


def pooled(url: str) -> str | None:
    """The URL the app under test uses instead of `url` when this run goes through PgBouncer
    (TEST_PGBOUNCER_URL, set by `scripts/with-test-db --pgbouncer`): the same database and
    role on PgBouncer's address. None when the run is direct, or `url` is not on the test
    server (a lab's own cluster, a fault proxy)."""
    pgbouncer = os.environ.get("TEST_PGBOUNCER_URL")
    if not pgbouncer:
        return None
    parts, server = urlsplit(url), urlsplit(server_url())
    if (parts.hostname, parts.port) != (server.hostname, server.port):
        return None
    bouncer = urlsplit(pgbouncer)
    netloc = parts.netloc.replace(
        f"{server.hostname}:{server.port}", f"{bouncer.hostname}:{bouncer.port}"
    )
    return urlunsplit(parts._replace(netloc=netloc))


async def role_timeouts_behind_pgbouncer(db_url: str, **settings: str) -> None:
    """Behind PgBouncer the app sends no timeouts (it refuses startup parameters): as in
    production, they are the role's. Set them on the test's role in the test's database."""
    if pooled(db_url) is None:
        return
    name = urlsplit(db_url).path.lstrip("/")
    connection = await asyncpg.connect(db_url)
    try:
        for setting, value in settings.items():
            await connection.execute(
                f"ALTER ROLE CURRENT_USER IN DATABASE \"{name}\" SET {setting} = '{value}'"
            )
    finally:
        await connection.close()


def admin_url() -> str:
    return database_url(urlsplit(server_url()).path.lstrip("/") or "postgres")


async def admin_execute(*statements: str) -> None:
    connection = await asyncpg.connect(admin_url(), timeout=10)
    try:
        for statement in statements:
            await connection.execute(statement)
    finally:
        await connection.close()


def run_migrations(url: str, revision: str = "head", *, downgrade: bool = False) -> None:
    config = Config(str(ROOT / "alembic.ini"))
    config.cmd_opts = type("Opts", (), {"x": [f"url={url}"]})()  # alembic's `-x url=...`
    if downgrade:
        command.downgrade(config, revision)
    else:
        command.upgrade(config, revision)


def unique_name(prefix: str) -> str:
    worker = os.environ.get("PYTEST_XDIST_WORKER", "main")
    return f"phresh_test_{prefix}_{worker}_{uuid.uuid4().hex[:10]}"


@pytest.fixture(scope="session")
def template_database() -> Iterator[str]:
    """A database migrated to head with the real migrations; cloned by every test."""
    name = unique_name("tpl")
    asyncio.run(admin_execute(f'CREATE DATABASE "{name}"'))
    try:
        run_migrations(database_url(name))
        yield name
    finally:
        asyncio.run(admin_execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


@pytest.fixture
async def empty_database() -> AsyncIterator[str]:
    """A new, empty database (for migration tests); its URL."""
    name = unique_name("scratch")
    await admin_execute(f'CREATE DATABASE "{name}"')
    try:
        yield database_url(name)
    finally:
        await admin_execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture
async def db_url(template_database: str) -> AsyncIterator[str]:
    """A fresh migrated database for this test only."""
    name = unique_name("db")
    await admin_execute(
        f'CREATE DATABASE "{name}" TEMPLATE "{template_database}" STRATEGY FILE_COPY'
    )
    try:
        yield database_url(name)
    finally:
        await admin_execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture
def server_db_url(template_database: str) -> Iterator[str]:
    """Like `db_url`, for synchronous tests that drive real server processes."""
    name = unique_name("srv")
    asyncio.run(admin_execute(f'CREATE DATABASE "{name}" TEMPLATE "{template_database}"'))
    try:
        yield database_url(name)
    finally:
        asyncio.run(admin_execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


@pytest.fixture
async def sql(db_url: str) -> AsyncIterator[asyncpg.Connection]:
    """A raw connection to the test's database, for SQL-level assertions."""
    connection = await asyncpg.connect(db_url)
    try:
        yield connection
    finally:
        await connection.close()


class FakeClock:
    """An injectable clock: starts at the real time, moves only when told."""

    def __init__(self) -> None:
        import time

        self.now = time.time()

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


async def database_time_passes(db_url: str, seconds: int) -> None:
    """Make `seconds` pass for what the database decides with its own clock (token expiry,
    rate-limit windows): every stored time moves back by that much. The injected clock
    cannot do this, and that is the point: instances never decide these with theirs."""
    shift = f"make_interval(secs => {int(seconds)})"
    connection = await asyncpg.connect(db_url)
    try:
        await connection.execute(
            f"UPDATE rate_limit_counters SET window_start = window_start - {shift},"  # noqa: S608
            f" expires_at = expires_at - {shift};"
            f" UPDATE refresh_tokens SET expires_at = expires_at - {shift};"
            f" UPDATE password_reset_tokens SET expires_at = expires_at - {shift}"
        )
    finally:
        await connection.close()


@pytest.fixture
def outbox() -> LoggingOutbox:
    return LoggingOutbox()


def make_settings(db_url: str, **overrides: Any) -> Settings:
    values: dict[str, Any] = {
        "environment": "test",
        "database_url": db_url,
        "secret_key": "test-secret-key-" + "x" * 32,
        "log_level": "WARNING",
        "db_pool_warm_size": 0,
        **overrides,
    }
    if (through_pgbouncer := pooled(values["database_url"])) is not None:
        values |= {"database_url": through_pgbouncer, "db_pooler": "pgbouncer"}
    return Settings(_env_file=None, **values)


@pytest.fixture
def settings(db_url: str) -> Settings:
    return make_settings(db_url)


def build_app(settings: Settings, clock: FakeClock, outbox: LoggingOutbox) -> App:
    return create_app(settings, clock=clock, outbox=outbox, passwords=Passwords(FAST_ARGON2))


@dataclass
class RunningApp:
    """An app whose lifespan has started: `asgi` to call it, `ctx` for factories."""

    asgi: Any
    ctx: AppContext

    def url(self, name: str, **params: Any) -> str:
        return str(self.ctx_app.url_path_for(name, **params))

    ctx_app: App


@asynccontextmanager
async def running(application: App) -> AsyncIterator[RunningApp]:
    async with LifespanManager(application) as manager:
        yield RunningApp(asgi=manager.app, ctx=application.state.ctx, ctx_app=application)


@pytest.fixture
async def app(
    settings: Settings, clock: FakeClock, outbox: LoggingOutbox
) -> AsyncIterator[RunningApp]:
    async with running(build_app(settings, clock, outbox)) as started:
        yield started


def client_for(app: RunningApp) -> httpx.AsyncClient:
    return httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app.asgi), base_url="http://testserver", timeout=30
    )


@pytest.fixture
async def client(app: RunningApp) -> AsyncIterator[httpx.AsyncClient]:
    async with client_for(app) as http:
        yield http


@pytest.fixture
async def database(db_url: str) -> AsyncIterator[Database]:
    """The app's Database class on the test's database (for query-level tests)."""
    through_pgbouncer = pooled(db_url)
    db = Database(
        through_pgbouncer or db_url,
        DatabaseOptions(warm_size=0, behind_pgbouncer=through_pgbouncer is not None),
    )
    await db.connect()
    try:
        yield db
    finally:
        await db.disconnect()
