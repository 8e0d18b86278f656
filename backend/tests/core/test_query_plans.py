"""No N+1 (queries per request are bounded whatever the page size) and every request query
uses an index on a table large enough that the planner would otherwise scan."""

from __future__ import annotations

from collections import Counter
from datetime import UTC, datetime
from typing import Any

import asyncpg
import httpx
import pytest

from backend.cleanings.queries import QUERIES as CLEANINGS
from backend.core.pagination import NEWEST, OLDEST
from backend.core.sql import Query, guarded
from backend.evaluations.queries import QUERIES as EVALUATIONS
from backend.feed.queries import QUERIES as FEED
from backend.offers.queries import QUERIES as OFFERS
from backend.profiles.queries import QUERIES as PROFILES
from backend.tests.conftest import RunningApp
from backend.tests.factories import create_cleaning, create_offer, create_users
from backend.users.queries import QUERIES as USERS

pytestmark = pytest.mark.anyio


class QueryCounter:
    def __init__(self) -> None:
        self.names: Counter[str] = Counter()

    def __call__(self, name: str, seconds: float) -> None:
        self.names[name] += 1

    def total(self) -> int:
        return sum(self.names.values())


async def count_queries(
    app: RunningApp, client: httpx.AsyncClient, url: str, headers: dict[str, str]
) -> int:
    counter = QueryCounter()
    app.ctx.db.observers.append(counter)
    try:
        response = await client.get(url, headers=headers)
    finally:
        app.ctx.db.observers.remove(counter)
    assert response.status_code == 200, response.text
    return counter.total()


@pytest.mark.parametrize("items", [2, 25])
async def test_queries_per_request_do_not_grow_with_the_page(
    app: RunningApp, client: httpx.AsyncClient, items: int
) -> None:
    owner, *offerers = await create_users(app.ctx, 4)
    cleanings = [await create_cleaning(app.ctx, owner) for _ in range(items)]
    for cleaning in cleanings[:5]:
        for offerer in offerers:
            await create_offer(app.ctx, cleaning, offerer)
    # One statement each: the caller's check rides with the read (core/auth.py).
    bounds = {
        app.url("cleanings:list-own-cleanings"): 1,
        app.url("feed:get-cleaning-feed-for-user") + "?page_chunk_size=50": 1,
        app.url("offers:list-offers-for-cleaning", cleaning_id=str(cleanings[0].id)): 1,
        app.url("cleanings:get-cleaning-by-id", cleaning_id=str(cleanings[0].id)): 1,
        app.url("users:get-current-user"): 1,
    }
    for url, bound in bounds.items():
        assert await count_queries(app, client, url, owner.headers) <= bound, url


def scanned_relations(plan: dict[str, Any]) -> set[str]:
    found = {plan["Relation Name"]} if plan.get("Node Type") == "Seq Scan" else set()
    for child in plan.get("Plans", []):
        found |= scanned_relations(child)
    return found


async def seq_scans(sql: asyncpg.Connection, query_sql: str, *args: object) -> set[str]:
    plan = await sql.fetchval(f"EXPLAIN (FORMAT JSON) {query_sql}", *args)
    import json

    return scanned_relations(json.loads(plan)[0]["Plan"])


def by_name(query: Query, **params: object) -> tuple[object, ...]:
    """The positional arguments of `query` (its :names, in the order the SQL uses them)."""
    return tuple(query.args(params))


SESSION = "8f0c2e1a-6b5d-4c3e-9a7f-1d2e3f405162"
CALLER = {"caller_id": 42, "caller_token_version": 0, "caller_session": SESSION}


def plain(query: Query, **params: object) -> tuple[str, str, tuple[object, ...]]:
    return query.name, query.sql, by_name(query, **params)


def as_first_read(query: Query, **params: object) -> tuple[str, str, tuple[object, ...]]:
    """`query` as a request's first read runs it: with the caller's check folded in."""
    folded = guarded(query, USERS["caller_still_valid"])
    return f"{query.name}, guarded", folded.sql, by_name(folded, **params, **CALLER)


@pytest.mark.slow
async def test_request_queries_use_indexes_on_a_large_table(sql: asyncpg.Connection) -> None:
    await sql.execute(
        """
        INSERT INTO users (username, email, password)
        SELECT 'user' || n, 'user' || n || '@example.com', 'x' FROM generate_series(1, 2000) AS n;
        INSERT INTO profiles (user_id) SELECT id FROM users;
        INSERT INTO cleanings (name, price, owner, created_at, updated_at)
        SELECT 'cleaning ' || n, 20, 1 + n % 2000,
               now() - n * interval '1 minute',
               now() - n * interval '1 minute'
                   + CASE WHEN n % 10 = 0 THEN interval '30 second' ELSE interval '0' END
        FROM generate_series(1, 50000) AS n;
        INSERT INTO offers (user_id, cleaning_id)
        SELECT 1 + (c.id * 7 + k) % 2000, c.id
        FROM cleanings AS c, generate_series(1, 2) AS k
        WHERE c.id % 5 = 0 AND 1 + (c.id * 7 + k) % 2000 <> c.owner;
        INSERT INTO evaluations (cleaning_id, cleaner_id, overall_rating)
        SELECT o.cleaning_id, o.user_id, 4 FROM offers AS o WHERE o.cleaning_id % 50 = 0
        ON CONFLICT DO NOTHING;
        ANALYZE;
        """
    )
    deep = datetime.fromtimestamp(datetime.now(UTC).timestamp() - 40000 * 60, UTC)
    # The reads a request runs first: each also as it runs then, the caller's check folded in.
    first_reads: list[tuple[Query, dict[str, object]]] = [
        (CLEANINGS["get_cleaning_by_id"], {"cleaning_id": 25000, "viewer_id": 7}),
        (
            CLEANINGS["list_cleanings_for_owner"],
            {"owner_id": 7, "before_ts": NEWEST.ts, "before_id": NEWEST.id, "limit": 101},
        ),
        (
            FEED["list_feed_events"],
            {"before_ts": NEWEST.ts, "before_id": NEWEST.id, "limit": 21, "viewer_id": 7},
        ),
        (
            OFFERS["list_offers_for_cleaning"],
            {"cleaning_id": 25000, "after_ts": OLDEST.ts, "after_id": OLDEST.id, "limit": 101},
        ),
        (USERS["get_user_by_id"], {"user_id": 42}),
    ]
    checks: list[tuple[str, str, tuple[object, ...]]] = [
        *(plain(query, **params) for query, params in first_reads),
        *(as_first_read(query, **params) for query, params in first_reads),
        ("get_cleaning_for_update", CLEANINGS["get_cleaning_for_update"].sql, (25000,)),
        ("cleaning_has_hired_offer", CLEANINGS["cleaning_has_hired_offer"].sql, (25000,)),
        ("feed deep page", FEED["list_feed_events"].sql, (deep, 10, 21, 7)),
        ("get_offer", OFFERS["get_offer"].sql, (25000, "user42")),
        plain(USERS["get_current_user"], user_id=42, family_id=SESSION),
        plain(USERS["caller_still_valid"], **CALLER),
        (
            "get_user_credentials_by_email",
            USERS["get_user_credentials_by_email"].sql,
            ("user42@example.com",),
        ),
        ("get_profile_by_username", PROFILES["get_profile_by_username"].sql, ("user42",)),
        (
            "list_evaluations_for_cleaner",
            EVALUATIONS["list_evaluations_for_cleaner"].sql,
            (42, NEWEST.ts, NEWEST.id, 101),
        ),
        (
            "get_evaluation_stats_for_cleaner",
            EVALUATIONS["get_evaluation_stats_for_cleaner"].sql,
            (42,),
        ),
    ]
    big = {"users", "profiles", "cleanings", "offers", "evaluations"}
    for name, query_sql, args in checks:
        assert not (await seq_scans(sql, query_sql, *args)) & big, name
