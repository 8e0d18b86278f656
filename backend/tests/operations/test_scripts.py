"""Operator scripts as an operator runs them: seed, inspect, backup and restore."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import asyncpg
import pytest

from backend.core.schema import expected_revision
from backend.tests.conftest import admin_execute, database_url, unique_name
from backend.tests.servers import ROOT

pytestmark = pytest.mark.slow
TABLES = ("users", "profiles", "cleanings", "offers", "evaluations")


def run(*args: str, unset: tuple[str, ...] = (), **env: str) -> subprocess.CompletedProcess[str]:
    environment = {**os.environ, "PY": sys.executable, **env}
    for name in unset:
        environment.pop(name, None)
    return subprocess.run(  # noqa: S603
        list(args),
        cwd=ROOT,
        env=environment,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )


def counts(url: str) -> dict[str, int]:
    async def fetch() -> dict[str, int]:
        connection = await asyncpg.connect(url)
        try:
            return {t: await connection.fetchval(f"SELECT count(*) FROM {t}") for t in TABLES}  # noqa: S608
        finally:
            await connection.close()

    return asyncio.run(fetch())


def fingerprint(url: str) -> list[tuple[object, ...]]:
    async def fetch() -> list[tuple[object, ...]]:
        connection = await asyncpg.connect(url)
        try:
            rows = await connection.fetch(
                "SELECT c.name, c.price, c.owner, count(o.*) FROM cleanings c "
                "LEFT JOIN offers o ON o.cleaning_id = c.id GROUP BY c.id ORDER BY c.id LIMIT 200"
            )
            return [tuple(row) for row in rows]
        finally:
            await connection.close()

    return asyncio.run(fetch())


def test_seed_is_deterministic_and_refuses_production(
    server_db_url: str, template_database: str
) -> None:
    seeded = run("scripts/seed", "--scale", "small", "--database-url", server_db_url)
    assert seeded.returncode == 0, seeded.stderr
    assert "seeded 200 users and 2,000 cleanings" in seeded.stdout
    first = counts(server_db_url)
    assert first["users"] == first["profiles"] == 200
    assert first["cleanings"] == 2000
    assert first["offers"] > 2000
    assert 0 < first["evaluations"] < first["offers"]

    other = unique_name("seed")
    asyncio.run(admin_execute(f'CREATE DATABASE "{other}" TEMPLATE "{template_database}"'))
    try:
        again = run("scripts/seed", "--scale", "small", "--database-url", database_url(other))
        assert again.returncode == 0, again.stderr
        assert counts(database_url(other)) == first
        assert fingerprint(database_url(other)) == fingerprint(server_db_url)
    finally:
        asyncio.run(admin_execute(f'DROP DATABASE IF EXISTS "{other}" WITH (FORCE)'))

    refused = run(
        "scripts/seed",
        "--database-url",
        server_db_url,
        ENVIRONMENT="production",
        SECRET_KEY="k" * 40,
    )
    assert refused.returncode == 2
    assert "refusing without --yes" in refused.stderr
    assert counts(server_db_url) == first


def test_inspect_reports_run_on_a_seeded_database(server_db_url: str) -> None:
    assert run("scripts/seed", "--scale", "small", "--database-url", server_db_url).returncode == 0
    listing = run("scripts/inspect")
    assert listing.returncode == 0
    reports = [line.split()[0] for line in listing.stdout.splitlines()[1:]]
    assert len(reports) == 8
    for report in reports:
        result = run("scripts/inspect", report, DATABASE_URL=server_db_url)
        assert result.returncode == 0, (report, result.stderr)
        assert "ERROR" not in result.stderr, (report, result.stderr)
        alone = run(
            "psql", "-X", server_db_url, "-v", "ON_ERROR_STOP=1", "-f", f"sql/inspect/{report}.sql"
        )
        assert alone.returncode == 0, (report, alone.stderr)
    assert "a1c3e5f7" in run("scripts/inspect", "migrations", DATABASE_URL=server_db_url).stdout
    assert (
        "pending" in run("scripts/inspect", "offers_by_status", DATABASE_URL=server_db_url).stdout
    )


def test_backup_and_restore_round_trip(server_db_url: str, tmp_path: Path) -> None:
    assert run("scripts/seed", "--scale", "small", "--database-url", server_db_url).returncode == 0
    backup = run("scripts/backup", "--database-url", server_db_url, "--dir", str(tmp_path))
    assert backup.returncode == 0, backup.stderr
    dump = Path(backup.stdout.strip())
    assert dump.exists()
    assert dump.name.startswith("phresh-phresh_test_srv_")
    target = unique_name("restored")
    try:
        # as the README shows it: the target database comes from DATABASE_URL
        restored = run(
            "make", "-s", "restore", f"FILE={dump}", f"DATABASE_URL={database_url(target)}"
        )
        assert restored.returncode == 0, restored.stderr
        assert counts(database_url(target)) == counts(server_db_url)
        assert fingerprint(database_url(target)) == fingerprint(server_db_url)
        refused = run("scripts/restore", str(dump), "--database-url", database_url(target))
        assert refused.returncode == 3
    finally:
        asyncio.run(admin_execute(f'DROP DATABASE IF EXISTS "{target}" WITH (FORCE)'))


@pytest.mark.parametrize(
    ("env", "named"),
    [
        ({"DATABASE_URL": "postgresql://nobody@127.0.0.1:1/phresh"}, "DATABASE_URL (environment)"),
        ({"POSTGRES_SERVER": "127.0.0.1", "POSTGRES_PORT": "1"}, "POSTGRES_SERVER, POSTGRES_PORT"),
    ],
)
def test_a_configured_database_that_does_not_answer_is_an_error(
    env: dict[str, str], named: str
) -> None:
    """Never a silent switch to the local cluster: exit 1, naming where the value came from."""
    others = tuple(n for n in ("DATABASE_URL", "POSTGRES_SERVER", "POSTGRES_PORT") if n not in env)
    result = run("scripts/dev-db", "url", unset=others, **env)
    assert result.returncode == 1
    assert result.stdout == ""
    assert f"configured by {named}" in result.stderr


@pytest.fixture
def scratch_url() -> Iterator[str]:
    name = unique_name("migrate")
    asyncio.run(admin_execute(f'CREATE DATABASE "{name}"'))
    try:
        yield database_url(name)
    finally:
        asyncio.run(admin_execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


def revision_of(url: str) -> str | None:
    async def fetch() -> str | None:
        connection = await asyncpg.connect(url)
        try:
            revision: str | None = await connection.fetchval(
                "SELECT version_num FROM alembic_version"
            )
            return revision
        finally:
            await connection.close()

    return asyncio.run(fetch())


def test_production_migration_backs_up_first_and_refuses_without_a_backup(
    scratch_url: str, tmp_path: Path
) -> None:
    assert run("scripts/migrate", "--database-url", scratch_url, "a1c3e5f70009").returncode == 0
    blocked = tmp_path / "not-a-folder"
    blocked.write_text("a file where the backup folder should be")
    refused = run(
        "scripts/migrate",
        "--database-url",
        scratch_url,
        "--backup-dir",
        str(blocked),
        ENVIRONMENT="production",
        SECRET_KEY="p" * 48,
    )
    assert refused.returncode == 1
    assert "refusing to migrate" in refused.stderr
    assert revision_of(scratch_url) == "a1c3e5f70009"  # nothing was changed

    backups = tmp_path / "backups"
    migrated = run(
        "scripts/migrate",
        "--database-url",
        scratch_url,
        "--backup-dir",
        str(backups),
        ENVIRONMENT="production",
        SECRET_KEY="p" * 48,
    )
    assert migrated.returncode == 0, migrated.stderr
    assert revision_of(scratch_url) == expected_revision()
    dumps = list(backups.glob("phresh-*.dump"))
    assert len(dumps) == 1  # taken before the upgrade, at the old revision
    assert f"backup written to {dumps[0]}" in migrated.stderr
    assert "now at " + expected_revision() in migrated.stderr


def test_development_migration_takes_no_backup(scratch_url: str, tmp_path: Path) -> None:
    result = run("scripts/migrate", "--database-url", scratch_url, "--backup-dir", str(tmp_path))
    assert result.returncode == 0, result.stderr
    assert list(tmp_path.iterdir()) == []
    assert revision_of(scratch_url) == expected_revision()


def test_purge_deletes_only_what_the_retention_policy_no_longer_keeps(server_db_url: str) -> None:
    async def prepare() -> None:
        connection = await asyncpg.connect(server_db_url)
        try:
            user = await connection.fetchval(
                "INSERT INTO users (username, email, password) "
                "VALUES ('purgee', 'purgee@example.com', 'x') RETURNING id"
            )
            for days_ago, name in ((8, "old"), (6, "recent"), (-30, "live")):
                await connection.execute(
                    "INSERT INTO refresh_tokens (user_id, family_id, token_hash, expires_at) "
                    "VALUES ($1, gen_random_uuid(), $2, now() - make_interval(days => $3))",
                    user,
                    name.encode(),
                    days_ago,
                )
                await connection.execute(
                    "INSERT INTO password_reset_tokens (user_id, token_hash, expires_at) "
                    "VALUES ($1, $2, now() - make_interval(days => $3))",
                    user,
                    name.encode(),
                    days_ago,
                )
            await connection.execute(
                "INSERT INTO rate_limit_counters (bucket, window_start, expires_at) VALUES "
                "('ended', now() - interval '2 minutes', now() - interval '1 minute'), "
                "('open', now(), now() + interval '1 minute')"
            )
        finally:
            await connection.close()

    asyncio.run(prepare())
    result = run(sys.executable, "scripts/purge.py", "--database-url", server_db_url)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == (
        "refresh_tokens: 1 deleted, password_reset_tokens: 2 deleted, "
        "rate_limit_counters: 1 deleted"
    )
