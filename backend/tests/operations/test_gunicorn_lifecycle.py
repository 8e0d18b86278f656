"""The servers as an operator meets them: a busy port is one clear line; a stopped server (or
a refused start, or `--check-config`) leaves nothing in the temporary folder; `make dev`
watches only the code and the SQL."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from urllib.parse import urlsplit

import pytest

from backend.tests.servers import ROOT, free_port, gunicorn

pytestmark = pytest.mark.slow


def start_gunicorn(port: int, tmp: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {
        **os.environ,
        "TMPDIR": str(tmp),
        "PORT": str(port),
        "SECRET_KEY": "x" * 40,
        "ENVIRONMENT": "test",
    }
    env.pop("PROMETHEUS_MULTIPROC_DIR", None)
    return subprocess.run(  # noqa: S603
        [sys.executable, "-m", "gunicorn", "backend.main:app", "-c", "gunicorn.conf.py", *args],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def test_busy_port_is_one_clear_line_and_nothing_is_left_behind(
    server_db_url: str, tmp_path: Path
) -> None:
    first_tmp, second_tmp = tmp_path / "first", tmp_path / "second"
    first_tmp.mkdir()
    second_tmp.mkdir()
    with gunicorn(server_db_url, workers=1, TMPDIR=str(first_tmp)) as base:
        port = urlsplit(base).port
        assert port is not None
        assert any(first_tmp.iterdir())  # its metrics folder and control socket
        second = start_gunicorn(port, second_tmp)
        assert second.returncode == 1
        assert f"127.0.0.1:{port} is already in use" in second.stderr
        assert f"make run PORT={port + 1}" in second.stderr
        assert "Connection in use" not in second.stderr  # no raw retry loop
        assert list(second_tmp.iterdir()) == []
    assert list(first_tmp.iterdir()) == []  # the stopped server cleaned up after itself


def test_check_config_leaves_nothing_behind(tmp_path: Path) -> None:
    result = start_gunicorn(8000, tmp_path, "--check-config")
    assert result.returncode == 0, result.stderr
    assert list(tmp_path.iterdir()) == []


def test_make_dev_watches_only_code_and_sql_and_reloads_on_sql(server_db_url: str) -> None:
    port = free_port()
    env = {**os.environ, "DATABASE_URL": server_db_url, "SECRET_KEY": "x" * 40}
    process = subprocess.Popen(  # noqa: S603
        ["make", "-s", "dev", f"PORT={port}"],  # noqa: S607
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,
    )
    lines: list[str] = []
    try:
        assert process.stdout is not None
        deadline = time.monotonic() + 60
        while not any("Application startup complete" in line for line in lines):
            assert time.monotonic() < deadline, "".join(lines)
            lines.append(process.stdout.readline())
        watched = next(line for line in lines if "Will watch for changes" in line)
        assert "/backend'" in watched
        assert "/sql'" in watched
        assert ".venv" not in watched
        (ROOT / "sql" / "health.sql").touch()
        while not any("Reloading" in line for line in lines):
            assert time.monotonic() < deadline, "".join(lines)
            lines.append(process.stdout.readline())
        assert "sql/health.sql" in lines[-1]
    finally:
        # Ctrl-C, as a developer stops it. (SIGTERM to the group reaches uvicorn's reloader
        # twice, from us and forwarded by make, and two signals in a row can deadlock it:
        # its handler re-enters threading.Event.set — a uvicorn bug, seen under load.)
        os.killpg(process.pid, signal.SIGINT)
        process.wait(timeout=30)
        if process.stdout is not None:
            process.stdout.close()
