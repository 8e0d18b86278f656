"""The caller's check (core/auth.py): whether a token's account still accepts it rides with
the request's first read, or runs on its own; either way nothing reaches a caller who fails
it, and nothing is written for them."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable

import asyncpg
import httpx
import pytest

from backend.core.db import Database, DatabaseOptions, ReadGuard, guarding_reads
from backend.core.sql import Query, parse_queries
from backend.tests.conftest import RunningApp
from backend.tests.factories import UserFixture, create_cleaning, create_user

pytestmark = pytest.mark.anyio

INVALID = "Could not validate token credentials."
INACTIVE = "Not an active user."


async def deactivate(sql: asyncpg.Connection, user: UserFixture, client: httpx.AsyncClient) -> str:
    await sql.execute("UPDATE users SET is_active = false WHERE id = $1", user.id)
    return INACTIVE


async def change_password(
    sql: asyncpg.Connection, user: UserFixture, client: httpx.AsyncClient
) -> str:
    await sql.execute("UPDATE users SET token_version = token_version + 1 WHERE id = $1", user.id)
    return INVALID


async def delete_account(
    sql: asyncpg.Connection, user: UserFixture, client: httpx.AsyncClient
) -> str:
    await sql.execute("DELETE FROM users WHERE id = $1", user.id)
    return INVALID


ENDINGS: dict[
    str, Callable[[asyncpg.Connection, UserFixture, httpx.AsyncClient], Awaitable[str]]
] = {
    "deactivated": deactivate,
    "password changed": change_password,
    "deleted": delete_account,
}


async def logged_in(app: RunningApp, client: httpx.AsyncClient) -> tuple[UserFixture, str]:
    """A user with an access token of a login session, and that session's refresh token."""
    user = await create_user(app.ctx)
    response = await client.post(
        app.url("users:login-email-and-password"),
        data={"username": user.email, "password": user.password},
    )
    tokens = response.json()
    return UserFixture(
        user.id, user.username, user.email, user.password, tokens["access_token"]
    ), tokens["refresh_token"]


def requests(
    app: RunningApp, cleaning_id: int
) -> dict[str, tuple[str, str, dict[str, object] | None]]:
    """How a request meets the check: (method, url, JSON body)."""
    cleanings = app.url("cleanings:create-cleaning")
    new_cleaning: dict[str, object] = {"new_cleaning": {"name": "windows", "price": 10}}
    return {
        "first read has rows": ("GET", app.url("users:get-current-user"), None),
        "first read of another's rows": (
            "GET",
            app.url("cleanings:get-cleaning-by-id", cleaning_id=str(cleaning_id)),
            None,
        ),
        "first read is empty (a 404)": (
            "GET",
            app.url("cleanings:get-cleaning-by-id", cleaning_id="999999"),
            None,
        ),
        "first read is an empty list": ("GET", app.url("cleanings:list-own-cleanings"), None),
        "a write first": ("POST", cleanings, new_cleaning),
        "an answer before any statement (a 422)": ("POST", cleanings, {"new_cleaning": {}}),
    }


REQUESTS = [
    "first read has rows",
    "first read of another's rows",
    "first read is empty (a 404)",
    "first read is an empty list",
    "a write first",
    "an answer before any statement (a 422)",
]


@pytest.mark.parametrize("request_kind", REQUESTS)
@pytest.mark.parametrize("ending", [*ENDINGS, "session ended"])
async def test_a_token_its_account_no_longer_accepts_is_401_whatever_the_request(
    app: RunningApp,
    client: httpx.AsyncClient,
    sql: asyncpg.Connection,
    ending: str,
    request_kind: str,
) -> None:
    other = await create_user(app.ctx)
    cleaning = await create_cleaning(app.ctx, other)
    user, refresh_token = await logged_in(app, client)
    method, url, body = requests(app, cleaning.id)[request_kind]
    if ending == "session ended":
        logout = await client.post(app.url("users:logout"), json={"refresh_token": refresh_token})
        assert logout.status_code == 204
        detail = INVALID
    else:
        detail = await ENDINGS[ending](sql, user, client)
    cleanings_before = await sql.fetchval("SELECT count(*) FROM cleanings")

    response = await client.request(method, url, json=body, headers=user.headers)

    assert response.status_code == 401, response.text
    assert response.json()["detail"] == detail
    assert response.headers["www-authenticate"] == "Bearer"
    assert await sql.fetchval("SELECT count(*) FROM cleanings") == cleanings_before


@pytest.mark.parametrize("request_kind", REQUESTS)
async def test_a_valid_token_gets_the_answer_it_would_without_the_check(
    app: RunningApp, client: httpx.AsyncClient, request_kind: str
) -> None:
    other = await create_user(app.ctx)
    cleaning = await create_cleaning(app.ctx, other)
    user, _ = await logged_in(app, client)
    method, url, body = requests(app, cleaning.id)[request_kind]
    response = await client.request(method, url, json=body, headers=user.headers)
    expected = {
        "first read has rows": 200,
        "first read of another's rows": 200,
        "first read is empty (a 404)": 404,
        "first read is an empty list": 200,
        "a write first": 201,
        "an answer before any statement (a 422)": 422,
    }[request_kind]
    assert response.status_code == expected, response.text


# -- the mechanism, on the Database -----------------------------------------------------------

ALLOW = parse_queries("-- name: allow :value\nSELECT CAST(:allow AS boolean)", "t")["allow"]
NUMBERS = parse_queries(
    "-- name: numbers :many\nSELECT n FROM generate_series(1, CAST(:count AS int)) AS n ORDER BY n",
    "t",
)["numbers"]
WRITE = parse_queries(
    "-- name: touch :exec\nUPDATE users SET updated_at = updated_at WHERE false", "t"
)["touch"]


class CheckFailed(Exception):
    pass


class Probe:
    """A guard whose condition is `allow`, whose check on its own fails unless `allow`, and
    which records the statements the database runs and when the check ran on its own."""

    def __init__(self, database: Database, *, allow: bool) -> None:
        self.events: list[str] = []
        self.allow = allow
        self.database = database
        database.observers.append(lambda name, seconds: self.events.append(name))

    def guard(self) -> ReadGuard:
        async def check() -> None:
            self.events.append("check on its own")
            if not self.allow:
                raise CheckFailed

        return ReadGuard(self.database, ALLOW, {"allow": self.allow}, check)


async def test_a_read_with_rows_passes_the_check_in_its_own_statement(database: Database) -> None:
    probe = Probe(database, allow=True)
    with guarding_reads(probe.guard()) as guard:
        rows = await database.fetch_all(NUMBERS, count=3)
        await database.fetch_all(NUMBERS, count=2)  # later reads are not guarded
    assert [row["n"] for row in rows] == [1, 2, 3]
    assert guard.passed
    assert probe.events == ["numbers", "numbers"]


async def test_a_failed_check_holds_the_rows_back_and_raises(database: Database) -> None:
    probe = Probe(database, allow=False)
    with guarding_reads(probe.guard()) as guard, pytest.raises(CheckFailed):
        await database.fetch_all(NUMBERS, count=3)
    assert not guard.passed
    assert probe.events == ["numbers", "check on its own"]


async def test_an_empty_read_runs_the_check_on_its_own_then_answers(database: Database) -> None:
    probe = Probe(database, allow=True)
    with guarding_reads(probe.guard()) as guard:
        assert await database.fetch_all(NUMBERS, count=0) == []
    assert guard.passed
    assert probe.events == ["numbers", "check on its own"]


async def write_in_a_transaction(database: Database) -> None:
    async with database.transaction():
        await database.execute(WRITE)


@pytest.mark.parametrize("write", [lambda db: db.execute(WRITE), write_in_a_transaction])
async def test_nothing_is_written_before_the_check(
    database: Database, write: Callable[[Database], Awaitable[None]]
) -> None:
    probe = Probe(database, allow=False)
    with guarding_reads(probe.guard()), pytest.raises(CheckFailed):
        await write(database)
    assert probe.events == ["check on its own"]


async def test_other_tasks_and_other_databases_leave_the_check_alone(
    database: Database, db_url: str
) -> None:
    """A background job inherits the request's context variables, not its check; a read
    replica cannot vouch for what the primary knows."""
    probe = Probe(database, allow=False)
    elsewhere = Database(db_url, DatabaseOptions(warm_size=0))
    await elsewhere.connect()
    try:
        with guarding_reads(probe.guard()) as guard:
            job = asyncio.create_task(database.fetch_all(NUMBERS, count=2))
            assert [row["n"] for row in await job] == [1, 2]
            assert [row["n"] for row in await elsewhere.fetch_all(NUMBERS, count=1)] == [1]
            assert guard.pending
    finally:
        await elsewhere.disconnect()
    assert probe.events == ["numbers"]


def test_a_guarded_query_keeps_its_name_kind_and_parameters() -> None:
    from backend.core.sql import guarded

    folded = guarded(NUMBERS, ALLOW)
    assert (folded.name, folded.kind, folded.readonly) == ("numbers", "many", True)
    assert set(folded.params) == {"count", "allow"}
    assert guarded(NUMBERS, ALLOW) is folded  # compiled once
    clash = parse_queries("-- name: c :value\nSELECT CAST(:count AS boolean)", "t")["c"]
    writes = Query("w", "exec", "UPDATE t SET a = 1", "UPDATE t SET a = 1", (), False)
    for query, condition in ((NUMBERS, clash), (writes, ALLOW), (NUMBERS, NUMBERS)):
        with pytest.raises(ValueError, match=r"guarded|uses"):
            guarded(query, condition)
