"""Transaction pooling (PgBouncer) forbids session state: a session SET, a session advisory
lock, a prepared statement or cursor kept across transactions, LISTEN. An audit that the app
uses none, and what DB_POOLER=pgbouncer changes. (`make test` also runs the whole suite
through PgBouncer in transaction mode: `scripts/with-test-db --pgbouncer`.)"""

from __future__ import annotations

import os
import re
import tokenize
from pathlib import Path
from urllib.parse import urlsplit

import pytest

from backend.config import Settings
from backend.core.db import Database, DatabaseOptions
from backend.core.sql import SQL_DIR, load_queries, parse_queries
from backend.tests.conftest import ROOT

pytestmark = pytest.mark.anyio

SHOW = parse_queries("-- name: show :value\nSELECT current_setting(:name)", "test")["show"]

NAMED_STATEMENTS = parse_queries(
    "-- name: named :value\n"
    "SELECT count(*) FROM pg_prepared_statements WHERE name LIKE '__asyncpg_stmt%'",
    "test",
)["named"]
# A statement that starts with one of these changes the session, not a transaction.
_SESSION_STATEMENTS = re.compile(
    r"^\s*(SET(?!\s+LOCAL\b)|RESET|PREPARE|DEALLOCATE|DECLARE|LISTEN|UNLISTEN|LOAD|DISCARD"
    r"|CREATE\s+TEMP)",
    re.IGNORECASE,
)
# Session-level advisory locks and session-wide set_config (is_local = false).
_SESSION_FUNCTIONS = re.compile(
    r"pg_(try_)?advisory_lock(_shared)?\s*\(|pg_advisory_unlock|set_config\s*\([^)]*false",
    re.IGNORECASE,
)
# Driver calls that keep state on one server connection across statements.
_SESSION_DRIVER_CALLS = re.compile(
    r"\.(prepare|cursor|add_listener|copy_\w+|set_builtin_type_codec)\("
)


def app_sql_files() -> list[Path]:
    """The SQL the running service executes (sql/setup and sql/inspect are operator tools
    run through psql, directly on PostgreSQL)."""
    return sorted(SQL_DIR.glob("*.sql"))


def test_no_query_the_app_runs_keeps_session_state() -> None:
    offenders = []
    for path in app_sql_files():
        for name, query in load_queries(path.stem).items():
            if _SESSION_STATEMENTS.match(query.sql) or _SESSION_FUNCTIONS.search(query.sql):
                offenders.append(f"{path.name}:{name}")
    assert not offenders


def code_of(path: Path) -> str:
    """The file without comments and docstrings (which may name what they avoid)."""
    with path.open("rb") as source:
        kept = [
            token.string
            for token in tokenize.tokenize(source.readline)
            if token.type != tokenize.COMMENT
            and not (
                token.type == tokenize.STRING
                and token.string.lstrip("rbuRBU").startswith(('"""', "'''"))
            )
        ]
    return " ".join(kept)


def test_no_app_code_keeps_state_on_a_server_connection() -> None:
    offenders = []
    for path in sorted((ROOT / "backend").rglob("*.py")):
        if "tests" in path.parts:
            continue
        text = code_of(path)
        for pattern in (_SESSION_DRIVER_CALLS, _SESSION_FUNCTIONS):
            offenders += [f"{path.name}: {m.group(0)}" for m in pattern.finditer(text)]
        offenders += [
            f"{path.name}: {m.group(0)}"
            for m in re.finditer(r"execute\(\s*[\"'](SET|RESET|LISTEN)\b[^\"']*", text, re.I)
        ]
    assert not offenders


def test_the_audit_catches_what_it_looks_for() -> None:
    assert _SESSION_STATEMENTS.match("SET statement_timeout = 0")
    assert not _SESSION_STATEMENTS.match("SET LOCAL lock_timeout = '1s'")
    assert not _SESSION_STATEMENTS.match("UPDATE t\nSET x = 1")  # a statement starts with UPDATE
    assert _SESSION_FUNCTIONS.search("SELECT pg_advisory_lock(1)")
    assert not _SESSION_FUNCTIONS.search("SELECT pg_advisory_xact_lock(1)")
    assert _SESSION_DRIVER_CALLS.search("await connection.prepare(sql)")


def test_the_pooler_setting_is_validated() -> None:
    assert Settings(_env_file=None, db_pooler="pgbouncer").db_pooler == "pgbouncer"
    with pytest.raises(ValueError, match="db_pooler"):
        Settings(_env_file=None, db_pooler="pgpool")


async def test_behind_pgbouncer_no_startup_parameters_and_no_statement_cache(
    db_url: str,
) -> None:
    """What the app would send at connect time is refused by PgBouncer: behind it the role's
    settings hold (here PostgreSQL's defaults), and no statement is prepared by name."""
    direct = Database(db_url, DatabaseOptions(warm_size=0, statement_timeout_ms=1234))
    pooled = Database(
        db_url, DatabaseOptions(warm_size=0, statement_timeout_ms=1234, behind_pgbouncer=True)
    )
    for db in (direct, pooled):
        await db.connect()
    try:
        assert await direct.fetch_value(SHOW, name="statement_timeout") == "1234ms"
        assert await pooled.fetch_value(SHOW, name="statement_timeout") != "1234ms"
        assert await pooled.fetch_value(SHOW, name="application_name") == "phresh"
        for _ in range(3):
            await pooled.fetch_value(SHOW, name="lock_timeout")
        # asyncpg names the statements it caches __asyncpg_stmt_N__; PgBouncer may run the
        # next query on another server connection, where that name means nothing (or
        # another client's statement). Uncached, asyncpg uses the unnamed statement.
        assert await direct.fetch_value(NAMED_STATEMENTS) > 0
        assert await pooled.fetch_value(NAMED_STATEMENTS) == 0
    finally:
        for db in (direct, pooled):
            await db.disconnect()


async def test_a_pgbouncer_run_really_serves_the_app_through_pgbouncer(settings: Settings) -> None:
    """`scripts/with-test-db --pgbouncer` must not quietly test the direct path again."""
    bouncer = os.environ.get("TEST_PGBOUNCER_URL")
    if bouncer is None:
        assert settings.db_pooler == "none"
        return
    assert settings.db_pooler == "pgbouncer"
    assert urlsplit(settings.dsn).port == urlsplit(bouncer).port
