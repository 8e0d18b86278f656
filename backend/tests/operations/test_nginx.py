"""deploy/nginx.conf in front of two real gunicorn instances (Debian nginx): the client
cannot choose its address, the address nginx saw is the one the rate limiter uses, nginx's
own answers are JSON, /metrics is restricted, and an instance that goes away is routed
around without failing a request."""

from __future__ import annotations

import signal
import subprocess
import time
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path

import httpx
import pytest

from backend.tests.servers import (
    ROOT,
    Gunicorn,
    free_port,
    gunicorn_process,
    register_over_http,
    render_config,
)

pytestmark = pytest.mark.slow


@contextmanager
def nginx(upstreams: list[Gunicorn], folder: Path) -> Iterator[str]:
    run_dir = folder / "nginx"
    run_dir.mkdir()
    run_dir.chmod(0o777)  # nginx's workers (nobody, when we are root) write temp files here
    port = free_port()
    config = run_dir / "nginx.conf"
    config.write_text(
        render_config(
            "nginx",
            LISTEN=f"127.0.0.1:{port}",
            UPSTREAMS=" ".join(f"127.0.0.1:{u.port}" for u in upstreams),
            RUN_DIR=str(run_dir),
            METRICS_FROM="127.0.0.1",
        )
    )
    command = ["nginx", "-c", str(config), "-p", str(run_dir)]
    checked = subprocess.run([*command, "-t"], capture_output=True, text=True, check=False)  # noqa: S603
    assert checked.returncode == 0, checked.stderr
    stderr = (run_dir / "stderr.log").open("wb")
    process = subprocess.Popen([*command, "-g", "daemon off;"], stderr=stderr)  # noqa: S603
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 10
        while True:
            try:
                httpx.get(f"{base}/health/live", timeout=1)
                break
            except httpx.TransportError:
                assert process.poll() is None, (run_dir / "stderr.log").read_text()
                assert time.monotonic() < deadline
                time.sleep(0.1)
        yield base
    finally:
        process.send_signal(signal.SIGQUIT)  # graceful
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        stderr.close()


@contextmanager
def topology(
    db_url: str, folder: Path, **env: str
) -> Iterator[tuple[str, list[Gunicorn], list[Path]]]:
    """Two instances (one worker each) behind nginx; (nginx's URL, instances, their logs)."""
    logs = [folder / "a.log", folder / "b.log"]
    with ExitStack() as stack:
        instances = [
            stack.enter_context(
                gunicorn_process(db_url, workers=1, log_file=log, env={"LOG_LEVEL": "INFO", **env})
            )
            for log in logs
        ]
        yield stack.enter_context(nginx(instances, folder)), instances, logs


def client_from(base: str, address: str) -> httpx.Client:
    """A client whose connections come from `address` (any 127.0.0.0/8 address is local)."""
    return httpx.Client(
        base_url=base, timeout=10, transport=httpx.HTTPTransport(local_address=address)
    )


def register(http: httpx.Client) -> tuple[str, str]:
    account = register_over_http(http, "edge")
    return account.email, account.password


def login(http: httpx.Client, email: str, password: str, forwarded_for: str | None = None) -> int:
    headers = {"X-Forwarded-For": forwarded_for} if forwarded_for else {}
    return http.post(
        "/api/users/login/token/", data={"username": email, "password": password}, headers=headers
    ).status_code


def test_through_nginx_the_address_is_the_one_nginx_saw(server_db_url: str, tmp_path: Path) -> None:
    with (
        topology(server_db_url, tmp_path, TRUSTED_PROXIES="127.0.0.1") as (base, _, logs),
        client_from(base, "127.0.0.2") as attacker,
        client_from(base, "127.0.0.3") as other,
    ):
        email, password = register(attacker)
        for n in range(10):  # a new X-Forwarded-For each time: nginx overwrites it
            assert login(attacker, email, "wrong-password-1", f"198.51.100.{n}") == 401
        assert login(attacker, email, password, "203.0.113.99") == 429
        # The limit is on (account, 127.0.0.2), the address nginx saw: not on nginx's own
        # address, which every client shares.
        assert login(other, email, password) == 200
        served = [log.read_text().count("/api/users/login/token/") for log in logs]
        assert all(served), served  # least_conn spread the logins over both instances


def test_nginx_answers_json_and_keeps_metrics_to_its_network(
    server_db_url: str, tmp_path: Path
) -> None:
    with (
        topology(server_db_url, tmp_path, TRUSTED_PROXIES="127.0.0.1") as (base, _, _),
        client_from(base, "127.0.0.2") as outside,
        client_from(base, "127.0.0.1") as inside,
    ):
        refused = outside.get("/metrics")
        assert refused.status_code == 403
        assert refused.json()["code"] == "forbidden"
        assert inside.get("/metrics").status_code == 200
        too_large = outside.post(
            "/api/cleanings/",
            content=b"{" + b" " * (1024 * 1024 + 10) + b"}",
            headers={"Content-Type": "application/json"},
        )
        assert too_large.status_code == 413
        assert too_large.json()["code"] == "payload_too_large"


def test_an_instance_that_goes_away_is_routed_around(server_db_url: str, tmp_path: Path) -> None:
    with (
        topology(server_db_url, tmp_path, TRUSTED_PROXIES="127.0.0.1") as (base, instances, _),
        client_from(base, "127.0.0.2") as http,
    ):
        email, password = register(http)
        token = http.post(
            "/api/users/login/token/", data={"username": email, "password": password}
        ).json()["access_token"]
        headers = {"Authorization": f"Bearer {token}"}
        instances[1].process.send_signal(signal.SIGTERM)
        instances[1].process.wait(timeout=30)
        statuses = [http.get("/api/users/me/", headers=headers).status_code for _ in range(20)]
        created = [
            http.post(
                "/api/cleanings/",
                json={"new_cleaning": {"name": "after failover", "price": 10}},
                headers=headers,
            ).status_code
            for _ in range(10)
        ]
    assert statuses == [200] * 20
    assert created == [201] * 10


def test_the_rendered_config_is_valid_for_the_packaged_nginx(tmp_path: Path) -> None:
    config = tmp_path / "nginx.conf"
    config.write_text(
        render_config(
            "nginx",
            LISTEN="127.0.0.1:8080",
            UPSTREAMS="127.0.0.1:8001",
            RUN_DIR=str(tmp_path),
            METRICS_FROM="10.0.0.0/24",
        )
    )
    result = subprocess.run(  # noqa: S603
        ["nginx", "-t", "-c", str(config), "-p", str(tmp_path)],  # noqa: S607
        capture_output=True,
        text=True,
        check=False,
        cwd=ROOT,
    )
    assert result.returncode == 0, result.stderr
