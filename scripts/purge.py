"""Delete what the retention policy (SECURITY.md, "Data retention") says is no longer kept:
expired refresh and reset tokens past their grace period, and ended rate-limit windows.
Safe to run at any time and as often as you like (cron: daily); prints what it deleted.

    python scripts/purge.py [--database-url URL]     (default: the app's settings)
"""

from __future__ import annotations

import argparse
import asyncio
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from backend.config import Settings
from backend.core.db import Database, DatabaseOptions
from backend.users import queries


async def purge(url: str) -> dict[str, int]:
    db = Database(url, DatabaseOptions(warm_size=0, statement_timeout_ms=600_000))
    await db.connect()
    try:
        return {
            "refresh_tokens": await queries.purge_expired_refresh_tokens(db),
            "password_reset_tokens": await queries.purge_expired_password_reset_tokens(db),
            "rate_limit_counters": await queries.purge_expired_rate_limits(db),
        }
    finally:
        await db.disconnect()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--database-url", help="default: DATABASE_URL / POSTGRES_* settings")
    args = parser.parse_args()
    deleted = asyncio.run(purge(args.database_url or Settings().dsn))
    print(", ".join(f"{table}: {count} deleted" for table, count in deleted.items()))
    return 0


if __name__ == "__main__":
    sys.exit(main())
