"""PostgreSQL's CPU per execution of each app's statements, in isolation.

One connection, each statement prepared once and run `--executions` times after a warm-up;
the backend's own user + system time (`/proc/<pid>/stat`, 10 ms ticks: keep the count in
the thousands) divided by the executions. The statements are the ones a request of the
offers-list scenario runs (on its cleaning, by its owner): the token check's lookup and
the page apart, and the page with the check folded in, which is what a request runs. Run it beside a load run to tell the cost of the SQL from the cost of how the load reaches the backends.

    .venv/bin/python -m scripts.bench.statement_cpu --database-url postgresql://.../phresh_bench_10k
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import asyncpg

from backend.core.sql import guarded, load_queries
from scripts.bench import reference_app
from scripts.bench.run import find_fixture, owner_id

USERS, OFFERS = load_queries("users"), load_queries("offers")
# What a request runs: the page with the caller's check folded in (backend/core/auth.py).
FOLDED_PAGE = guarded(OFFERS["list_offers_for_cleaning"], USERS["caller_still_valid"])
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
# Variants that no request runs, of the offers page: each offerer read as plain columns of
# users and profiles, and as the JSON card of the user_cards view (what the page read until
# 2026-12-03), instead of a whole user_rows row. They tell what each form costs PostgreSQL.
PLAIN_USER_COLUMNS = (
    "u.id AS u_id, u.username, u.email, u.email_verified, u.is_active, u.is_superuser, "
    "u.created_at AS u_created_at, u.updated_at AS u_updated_at, p.id AS p_id, p.full_name, "
    "p.phone_number, p.bio, p.image, p.created_at AS p_created_at, p.updated_at AS p_updated_at"
)
_PAGE = OFFERS["list_offers_for_cleaning"].sql
_OFFERER = ("ur AS user", "LEFT JOIN user_rows AS ur ON ur.id = o.user_id")
OFFERS_PAGE_PLAIN = _PAGE.replace(_OFFERER[0], PLAIN_USER_COLUMNS).replace(
    _OFFERER[1],
    "LEFT JOIN users AS u ON u.id = o.user_id LEFT JOIN profiles AS p ON p.user_id = u.id",
)
OFFERS_PAGE_JSON = _PAGE.replace(_OFFERER[0], "uc.card AS user").replace(
    _OFFERER[1], "LEFT JOIN user_cards AS uc ON uc.id = o.user_id"
)


def backend_cpu_seconds(pid: int) -> float:
    fields = open(f"/proc/{pid}/stat").read().rsplit(")", 1)[1].split()  # noqa: SIM115
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def statements(owner: int, cleaning: int) -> dict[str, tuple[str, Callable[[], list[Any]]]]:
    page = {"cleaning_id": cleaning, "after_ts": EPOCH, "after_id": 0, "limit": 21}
    auth = {"user_id": owner, "family_id": None}
    caller = {"caller_id": owner, "caller_token_version": 0, "caller_session": None}
    return {
        "phresh token lookup": (
            USERS["get_current_user"].sql,
            lambda: USERS["get_current_user"].args(auth),
        ),
        "reference token lookup": (reference_app.AUTHENTICATE, lambda: [owner]),
        "phresh offers page": (
            OFFERS["list_offers_for_cleaning"].sql,
            lambda: OFFERS["list_offers_for_cleaning"].args(page),
        ),
        "phresh page + check (served)": (FOLDED_PAGE.sql, lambda: FOLDED_PAGE.args(page | caller)),
        "phresh page, plain cards": (
            OFFERS_PAGE_PLAIN,
            lambda: OFFERS["list_offers_for_cleaning"].args(page),
        ),
        "phresh page, JSON cards": (
            OFFERS_PAGE_JSON,
            lambda: OFFERS["list_offers_for_cleaning"].args(page),
        ),
        "reference offers page": (reference_app.OFFERS, lambda: [cleaning]),
    }


async def measure(url: str, executions: int, rounds: int) -> None:
    if any(part not in _PAGE for part in _OFFERER):
        raise SystemExit("the card variants no longer apply to sql/offers.sql: update them")
    fixture = await find_fixture(url)  # the bench's offers scenario: its cleaning and owner
    cleaning, owner = fixture.offers_cleaning, await owner_id(url, fixture.owner_email)
    connection = await asyncpg.connect(url)
    try:
        pid = await connection.fetchval("SELECT pg_backend_pid()")
        for round_ in range(1, rounds + 1):
            for name, (sql, args) in statements(owner, cleaning).items():
                statement, values = await connection.prepare(sql), args()
                for _ in range(200):  # past the custom plans, into the cached one
                    await statement.fetch(*values)
                before = backend_cpu_seconds(pid)
                for _ in range(executions):
                    await statement.fetch(*values)
                per_execution = (backend_cpu_seconds(pid) - before) / executions * 1e6
                print(f"round {round_} {name:<30} {per_execution:7.1f} µs PostgreSQL CPU")
    finally:
        await connection.close()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--database-url", required=True, help="a seeded bench database")
    parser.add_argument("--executions", type=int, default=5000)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    asyncio.run(measure(args.database_url, args.executions, args.rounds))
    return 0


if __name__ == "__main__":
    sys.exit(main())
