"""gunicorn with two workers: one scrape reports the sum over both; schemathesis fuzzes the
running API against its own OpenAPI document."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from backend.tests.operations.test_openapi_and_metrics import sample
from backend.tests.servers import ROOT, gunicorn

pytestmark = pytest.mark.slow

REQUESTS = 60


def test_one_scrape_sums_every_worker(server_db_url: str) -> None:
    with gunicorn(server_db_url, workers=2) as base:
        pids = set()
        for _ in range(REQUESTS):  # a new connection each time: the kernel spreads them
            with httpx.Client(base_url=base) as http:
                response = http.get("/health/live")
                assert response.status_code == 200
        for _ in range(20):
            with httpx.Client(base_url=base) as http:
                text = http.get("/metrics").text
            total = sample(
                text, "phresh_http_requests_total", route="/health/live", method="GET", status="200"
            )
            assert total == REQUESTS
            pids |= {
                line.split('pid="')[1].split('"')[0]
                for line in text.splitlines()
                if line.startswith("phresh_worker_resident_memory_bytes{")
            }
        assert len(pids) == 2  # both workers reported, and one scrape summed them
        # Latencies are written once a second: the other worker's arrive within that.
        deadline = time.monotonic() + 5
        while True:
            with httpx.Client(base_url=base) as http:
                text = http.get("/metrics").text
            count = sample(
                text,
                "phresh_http_request_duration_seconds_count",
                route="/health/live",
                method="GET",
                status="200",
            )
            if count == REQUESTS or time.monotonic() > deadline:
                break
            time.sleep(0.2)
        assert count == REQUESTS


def test_schemathesis_finds_no_server_error_or_schema_violation(
    server_db_url: str, tmp_path: Path
) -> None:
    with gunicorn(server_db_url, workers=2) as base:
        register = httpx.post(
            f"{base}/api/users/",
            json={
                "new_user": {
                    "email": "fuzz@example.com",
                    "username": "fuzzer",
                    "password": "maple quartz river",
                }
            },
        )
        assert register.status_code == 201
        token = register.json()["access_token"]["access_token"]
        st = Path(sys.executable).parent / "st"
        result = subprocess.run(  # noqa: S603
            [
                str(st),
                "run",
                f"{base}/openapi.json",
                "--checks",
                "not_a_server_error,response_schema_conformance,status_code_conformance",
                "--max-examples",
                "15",
                "--seed",
                "1",
                "--header",
                f"Authorization: Bearer {token}",
                "--exclude-path",
                "/api/users/me/",  # DELETE would end the fuzzer's own session
                "--request-timeout",
                "10",
                "--report-dir",
                str(tmp_path),
                "--generation-database",
                "none",
                "--no-color",
            ],
            cwd=tmp_path,  # schemathesis keeps a cache in its working directory
            capture_output=True,
            text=True,
            timeout=300,
            env={**os.environ, "SCHEMATHESIS_HOOKS": ""},
            check=False,
        )
        assert result.returncode == 0, result.stdout[-6000:] + result.stderr[-2000:]


def test_gunicorn_config_check_passes_with_production_settings(tmp_path: Path) -> None:
    """What the image's CMD loads, as `gunicorn --check-config` sees it (the app is imported
    in the master before any server hook runs)."""
    env = {
        **os.environ,
        "ENVIRONMENT": "production",
        "SECRET_KEY": "p" * 48,
        "PROMETHEUS_MULTIPROC_DIR": str(tmp_path / "metrics"),
    }
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "gunicorn",
            "backend.main:app",
            "-c",
            "gunicorn.conf.py",
            "--check-config",
        ],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stderr[-2000:]
