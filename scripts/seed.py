"""Fill a database with realistic fake data, fast (server-side multi-row INSERT ... SELECT in
batches, one transaction: all or nothing).

    scripts/seed --users 100000 --cleanings 1000000
    scripts/seed --scale small            (deterministic: 200 users, 2,000 cleanings)

Writes only to DATABASE_URL (the app's settings, `.env` included) or --database-url, and
refuses ENVIRONMENT=production unless --yes. Seeded users log in with their email
(seed_<id>@example.com) and the password `seed-password`.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from argon2 import PasswordHasher

from backend.config import Settings, describe_settings_error
from backend.core.db import Database, DatabaseOptions
from backend.core.sql import load_queries

Q = load_queries("seed")
SEED_PASSWORD = "seed-password"
SCALES = {"small": (200, 2_000), "medium": (10_000, 100_000), "large": (100_000, 1_000_000)}


@dataclass(frozen=True)
class Plan:
    users: int
    cleanings: int
    max_offers: int
    batch: int
    seed: float


def progress(label: str, done: int, total: int, started: float) -> None:
    width = 30
    filled = width * done // max(total, 1)
    rate = done / max(time.perf_counter() - started, 1e-9)
    bar = "#" * filled + "." * (width - filled)
    sys.stderr.write(f"\r{label:<12} [{bar}] {done:>9,}/{total:,} {rate:>9,.0f}/s")
    if done >= total:
        sys.stderr.write("\n")
    sys.stderr.flush()


async def batched(
    label: str, total: int, batch: int, run: Callable[[int, int], Awaitable[None]]
) -> None:
    started = time.perf_counter()
    done = 0
    progress(label, 0, total, started)
    while done < total:
        size = min(batch, total - done)
        await run(done, size)
        done += size
        progress(label, done, total, started)


async def seed(db: Database, plan: Plan) -> dict[str, int]:
    password_hash = PasswordHasher().hash(SEED_PASSWORD)
    async with db.transaction():
        await db.execute(Q["lock_seeded_tables"])
        await db.execute(Q["set_random_seed"], seed=plan.seed)
        first = await db.fetch_row(Q["next_free_ids"])
        first_user, first_cleaning = first["user_id"], first["cleaning_id"]

        async def users(done: int, size: int) -> None:
            await db.execute(
                Q["seed_users"],
                first_id=first_user + done,
                last_id=first_user + done + size - 1,
                password_hash=password_hash,
            )

        async def cleanings(done: int, size: int) -> None:
            lo, hi = first_cleaning + done, first_cleaning + done + size - 1
            common = {"first_user_id": first_user, "user_count": plan.users}
            await db.execute(Q["seed_cleanings"], first_id=lo, last_id=hi, **common)
            await db.execute(
                Q["seed_offers"], first_id=lo, last_id=hi, max_offers=plan.max_offers, **common
            )
            await db.execute(Q["seed_evaluations"], first_id=lo, last_id=hi)

        await batched("users", plan.users, plan.batch, users)
        await batched("cleanings", plan.cleanings, plan.batch, cleanings)
        await db.execute(Q["sync_identity_sequences"])
    return dict(await db.fetch_row(Q["count_rows"]))


def parse_args(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--scale", choices=sorted(SCALES), help="preset sizes (small is the tests' and bench's)"
    )
    parser.add_argument("--users", type=int, help="users to add (with profiles)")
    parser.add_argument(
        "--cleanings", type=int, help="cleanings to add (with offers and evaluations)"
    )
    parser.add_argument(
        "--max-offers", type=int, default=5, help="most offers on one cleaning (default 5)"
    )
    parser.add_argument(
        "--batch", type=int, default=50_000, help="rows per INSERT (default 50,000)"
    )
    parser.add_argument(
        "--seed", type=float, default=0.42, help="random seed in [-1, 1] (default 0.42)"
    )
    parser.add_argument("--database-url", help="target database (default: the app's DATABASE_URL)")
    parser.add_argument("--yes", action="store_true", help="allow ENVIRONMENT=production")
    args = parser.parse_args(argv)
    preset = SCALES.get(args.scale or "small")
    assert preset is not None
    args.users = args.users if args.users is not None else preset[0]
    args.cleanings = args.cleanings if args.cleanings is not None else preset[1]
    if args.users < 2 and args.cleanings > 0:
        parser.error("--users must be at least 2 when seeding cleanings (offers need another user)")
    if not -1 <= args.seed <= 1:
        parser.error("--seed must be within [-1, 1]")
    return args


async def main(argv: list[str]) -> int:
    args = parse_args(argv)
    try:
        settings = Settings()
    except ValueError as error:
        print(describe_settings_error(error), file=sys.stderr)
        return 2
    if settings.environment == "production" and not args.yes:
        print("seed: ENVIRONMENT=production; refusing without --yes", file=sys.stderr)
        return 2
    url = args.database_url or settings.dsn
    db = Database(
        url,
        DatabaseOptions(
            warm_size=0,
            statement_timeout_ms=0,
            lock_timeout_ms=60_000,
            idle_in_transaction_timeout_ms=0,
            acquire_timeout=30,
        ),
    )
    plan = Plan(args.users, args.cleanings, args.max_offers, args.batch, args.seed)
    started = time.perf_counter()
    await db.connect()
    try:
        counts = await seed(db, plan)
    finally:
        await db.disconnect()
    elapsed = time.perf_counter() - started
    print(f"seeded {plan.users:,} users and {plan.cleanings:,} cleanings in {elapsed:.1f} s")
    print("database now holds: " + ", ".join(f"{v:,} {k}" for k, v in counts.items()))
    print(f"log in as seed_<id>@example.com with password {SEED_PASSWORD!r}")
    return 0


if __name__ == "__main__":
    sys.exit(asyncio.run(main(sys.argv[1:])))
