"""The security lab: its own PostgreSQL cluster (so its log, with every statement, can be
read back), one database with least-privilege roles (migrated as the owner, served as the
DML-only app role), and a real gunicorn in front of it, configured as a hardened deployment
(allowed hosts, a CORS allow-list). Black-box: tests talk HTTP to it, and SQL only to check
what the database kept. One lab per xdist worker (the module's tests share a group)."""

from __future__ import annotations

import asyncio
import os
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import asyncpg
import httpx
import pytest

from backend.tests.conftest import run_migrations
from backend.tests.servers import ROOT, free_port, gunicorn

SECRET_KEY = "security-lab-secret-" + "k" * 40
ALLOWED_ORIGIN = "https://app.example.com"


@dataclass
class Lab:
    base: str
    admin_url: str
    app_url: str
    server_log: Path
    postgres_log: Path
    mail_dir: Path
    secrets: set[str] = field(default_factory=set)

    def client(self) -> httpx.Client:
        return httpx.Client(base_url=self.base, timeout=10)

    def sql(self, statement: str, *args: object, url: str | None = None) -> object:
        async def run() -> object:
            connection = await asyncpg.connect(url or self.admin_url)
            try:
                return await connection.fetchval(statement, *args)
            finally:
                await connection.close()

        return asyncio.run(run())


def _pg(command: str, data: Path, *args: str) -> None:
    subprocess.run(  # noqa: S603
        [str(ROOT / "scripts" / "pg-cluster"), command, str(data), *args],
        check=True,
        capture_output=True,
        timeout=120,
    )


@pytest.fixture(scope="module")
def lab() -> Iterator[Lab]:
    folder = Path(tempfile.mkdtemp(prefix="phresh-security-lab-"))
    folder.chmod(0o755)  # the cluster runs as the postgres user when we are root
    data, port = folder / "data", free_port()
    _pg("start", data, str(port), "-c log_statement=all -c fsync=off")
    admin = f"postgresql://postgres@127.0.0.1:{port}/postgres?sslmode=disable"
    try:
        lab_db = f"postgresql://postgres@127.0.0.1:{port}/phresh_lab?sslmode=disable"
        asyncio.run(_create_database(admin))
        roles = subprocess.run(  # noqa: S603
            [
                str(ROOT / "scripts" / "db-roles"),
                "--admin-url",
                admin,
                "--owner",
                "lab_owner",
                "--app",
                "lab_app",
                "--database",
                "phresh_lab",
            ],
            capture_output=True,
            text=True,
            check=False,
        )
        assert roles.returncode == 0, roles.stderr
        run_migrations(lab_db.replace("postgres@", "lab_owner@"))
        app_url = lab_db.replace("postgres@", "lab_app@")
        server_log, mail_dir = folder / "gunicorn.log", folder / "mail"
        with gunicorn(
            app_url,
            workers=2,
            log_file=server_log,
            SECRET_KEY=SECRET_KEY,
            LOG_LEVEL="INFO",
            ALLOWED_HOSTS="127.0.0.1,localhost",
            CORS_ORIGINS=ALLOWED_ORIGIN,
            MAIL_OUTBOX_DIR=str(mail_dir),
            AUTH_RATE_LIMIT_PER_ADDRESS="100000",
        ) as base:
            yield Lab(base, lab_db, app_url, server_log, data / "server.log", mail_dir)
    finally:
        _pg("stop", data)
        shutil.rmtree(folder, ignore_errors=True)


async def _create_database(admin: str) -> None:
    connection = await asyncpg.connect(admin)
    try:
        await connection.execute("CREATE DATABASE phresh_lab")
    finally:
        await connection.close()


@dataclass
class Account:
    id: int
    username: str
    email: str
    password: str
    access_token: str
    refresh_token: str

    @property
    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.access_token}"}


def register(lab: Lab, http: httpx.Client, name: str) -> Account:
    """A new account, logged in (its tokens and password noted as secrets to look for)."""
    username = f"{name}_{os.urandom(3).hex()}"
    email, password = f"{username}@example.com", f"violet-{os.urandom(4).hex()}-harbour"
    created = http.post(
        "/api/users/",
        json={"new_user": {"email": email, "username": username, "password": password}},
    )
    assert created.status_code == 201, created.text
    tokens = http.post("/api/users/login/token/", data={"username": email, "password": password})
    assert tokens.status_code == 200, tokens.text
    pair = tokens.json()
    lab.secrets |= {password, pair["access_token"], pair["refresh_token"]}
    lab.secrets.add(created.json()["access_token"]["access_token"])
    return Account(
        created.json()["id"], username, email, password, pair["access_token"], pair["refresh_token"]
    )
