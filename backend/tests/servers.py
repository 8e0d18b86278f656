"""Real server processes for tests that need them (several workers, fuzzing over HTTP).
They listen on 127.0.0.1 only, on a free port, and are always stopped."""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx

from backend.tests.conftest import pooled

ROOT = Path(__file__).resolve().parents[2]


@dataclass(frozen=True)
class NewAccount:
    email: str
    password: str
    access_token: str


def register_over_http(http: httpx.Client, prefix: str) -> NewAccount:
    """A new account, registered through the running server's API."""
    name = f"{prefix}_{os.urandom(4).hex()}"
    email, password = f"{name}@example.com", f"amber-{os.urandom(4).hex()}-kettle"
    created = http.post(
        "/api/users/",
        json={"new_user": {"email": email, "username": name, "password": password}},
    )
    assert created.status_code == 201, created.text
    return NewAccount(email, password, created.json()["access_token"]["access_token"])


def render_config(kind: str, **env: str) -> str:
    """`deploy/edge render nginx|pgbouncer`: the config as deployed, from `env` (LISTEN,
    UPSTREAMS, RUN_DIR, ...)."""
    return subprocess.run(  # noqa: S603
        [str(ROOT / "deploy" / "edge"), "render", kind],
        env={**os.environ, **env},
        capture_output=True,
        text=True,
        check=True,
    ).stdout


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class Gunicorn:
    """A running gunicorn master: its base URL, process (for signals) and port."""

    base: str
    port: int
    process: subprocess.Popen[bytes]


@contextmanager
def gunicorn(
    db_url: str, *, workers: int = 2, log_file: Path | None = None, **env: str
) -> Iterator[str]:
    """`gunicorn backend.main:app -c gunicorn.conf.py` as an operator runs it; its base URL.
    `log_file`: where its stderr (the app's JSON log) goes."""
    with gunicorn_process(db_url, workers=workers, log_file=log_file, env=env) as server:
        yield server.base


@contextmanager
def gunicorn_process(
    db_url: str,
    *,
    workers: int = 2,
    log_file: Path | None = None,
    wrapper: list[str] | None = None,
    wait_for: str = "/health/ready",
    env: dict[str, str] | None = None,
) -> Iterator[Gunicorn]:
    """Like `gunicorn`, yielding the process too; `wrapper` prefixes the command (e.g.
    `faketime`); started once `wait_for` answers 200."""
    port = free_port()
    environment = {
        **os.environ,
        "ENVIRONMENT": "test",
        "DATABASE_URL": db_url,
        "SECRET_KEY": "x" * 40,
        "HOST": "127.0.0.1",
        "PORT": str(port),
        "WEB_CONCURRENCY": str(workers),
        "LOG_LEVEL": "WARNING",
        "ARGON2_TIME_COST": "1",
        "ARGON2_MEMORY_COST_KIB": "8",
        "ARGON2_PARALLELISM": "1",
        **(env or {}),
    }
    environment.pop("PROMETHEUS_MULTIPROC_DIR", None)
    if (through_pgbouncer := pooled(environment["DATABASE_URL"])) is not None:
        environment |= {"DATABASE_URL": through_pgbouncer, "DB_POOLER": "pgbouncer"}
    log = log_file.open("ab") if log_file is not None else None
    command = [sys.executable, "-m", "gunicorn", "backend.main:app", "-c", "gunicorn.conf.py"]
    process = subprocess.Popen(  # noqa: S603
        [*(wrapper or []), *command],
        cwd=ROOT,
        env=environment,
        stdout=subprocess.DEVNULL,
        stderr=log if log is not None else subprocess.PIPE,
        start_new_session=wrapper is not None,  # its own group: see _stop
    )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                if httpx.get(f"{base}{wait_for}", timeout=1).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            if process.poll() is not None or time.monotonic() > deadline:
                _, errors = process.communicate(timeout=5)
                text = errors.decode() if errors else log_file.read_text() if log_file else ""
                raise RuntimeError(f"gunicorn did not start: {text[-2000:]}")
            time.sleep(0.2)
        yield Gunicorn(base, port, process)
    finally:
        _stop(process, whole_group=wrapper is not None)
        if process.stderr is not None:
            process.stderr.close()
        if log is not None:
            log.close()


def _stop(process: subprocess.Popen[bytes], *, whole_group: bool) -> None:
    """SIGTERM, then SIGKILL after 30 s. A wrapper such as `faketime` forks the server and
    does not pass signals on (the server outlived every clock-skew test until 2026-12-02):
    then the whole process group is signalled, and waited for until it is empty."""
    if whole_group:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGTERM)
    else:
        process.send_signal(signal.SIGTERM)
    try:
        process.wait(timeout=30)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()
    if not whole_group:
        return
    deadline = time.monotonic() + 30
    with contextlib.suppress(ProcessLookupError):  # raised once the group is empty
        while time.monotonic() < deadline + 5:
            os.killpg(process.pid, signal.SIGKILL if time.monotonic() > deadline else 0)
            time.sleep(0.1)
        raise AssertionError(f"process group {process.pid} outlived SIGKILL")
