"""Small database chores for the shell scripts (uses the project's own driver).

python scripts/dbtool.py ping URL          exit 0 when `SELECT 1` answers within 3 s
python scripts/dbtool.py ensure-db URL     create the URL's database if it is missing
python scripts/dbtool.py configured-url    the app's database URL when DATABASE_URL or a
                                           POSTGRES_* variable is set (env or .env), else ""
python scripts/dbtool.py configured-source where that URL came from, e.g.
                                           "DATABASE_URL (environment)" or
                                           "POSTGRES_SERVER, POSTGRES_DB (.env)"
"""

from __future__ import annotations

import asyncio
import os
import sys
from urllib.parse import urlsplit, urlunsplit

import asyncpg


async def ping(url: str) -> int:
    try:
        connection = await asyncpg.connect(url, timeout=3)
    except (OSError, asyncpg.PostgresError, TimeoutError) as error:
        print(f"unreachable: {type(error).__name__}: {error}", file=sys.stderr)
        return 1
    await connection.close()
    return 0


async def ensure_db(url: str) -> int:
    parts = urlsplit(url)
    name = parts.path.lstrip("/")
    admin = urlunsplit(parts._replace(path="/postgres"))
    connection = await asyncpg.connect(admin, timeout=5)
    try:
        exists = await connection.fetchval("SELECT 1 FROM pg_database WHERE datname = $1", name)
        if not exists:
            quoted = '"' + name.replace('"', '""') + '"'
            await connection.execute(f"CREATE DATABASE {quoted}")
            print(f"created database {name}", file=sys.stderr)
    finally:
        await connection.close()
    return 0


DATABASE_SETTINGS = (
    "database_url",
    "postgres_user",
    "postgres_password",
    "postgres_server",
    "postgres_port",
    "postgres_db",
)


def configured(show: str) -> int:
    """Print the configured URL (`show="url"`) or the variables it came from ("source")."""
    from backend.config import Settings, describe_settings_error

    try:
        settings = Settings()
    except ValueError as error:
        print(describe_settings_error(error), file=sys.stderr)
        return 1
    chosen = [name for name in DATABASE_SETTINGS if name in settings.model_fields_set]
    if not chosen:
        print("")
    elif show == "url":
        print(settings.dsn)
    else:
        names = ["database_url"] if "database_url" in chosen else chosen
        where = "environment" if all(n.upper() in os.environ for n in names) else ".env"
        print(f"{', '.join(n.upper() for n in names)} ({where})")
    return 0


def main() -> int:
    if sys.argv[1:] in (["configured-url"], ["configured-source"]):
        return configured(sys.argv[1].removeprefix("configured-"))
    if len(sys.argv) != 3 or sys.argv[1] not in {"ping", "ensure-db"}:
        print(__doc__, file=sys.stderr)
        return 2
    command = ping if sys.argv[1] == "ping" else ensure_db
    return asyncio.run(command(sys.argv[2]))


if __name__ == "__main__":
    sys.exit(main())
