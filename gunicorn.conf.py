"""gunicorn settings: `gunicorn backend.main:app -c gunicorn.conf.py`.

Workers are uvicorn's maintained ASGI worker; their number is WEB_CONCURRENCY and the bind
address HOST:PORT (the app's settings, validated here so a bad configuration stops the
master with a clear message instead of crash-looping workers).
"""

from __future__ import annotations

import atexit
import os
import shutil
import socket
import sys
import tempfile
from typing import Any

from pydantic import ValidationError

from backend.config import Settings, describe_settings_error

try:
    _settings = Settings()
except ValidationError as error:
    sys.exit(describe_settings_error(error))

bind = os.environ.get("GUNICORN_BIND", f"{_settings.host}:{_settings.port}")
workers = _settings.web_concurrency
# uvicorn's worker, whose graceful stop (SIGTERM, HUP reload, max_requests) drains
# keep-alive connections instead of resetting them under the client (backend/core/worker.py).
worker_class = "backend.core.worker.DrainingUvicornWorker"
# SIGTERM: stop accepting, let in-flight requests finish (up to graceful_timeout), then
# run the lifespan shutdown, which closes the database pool.
graceful_timeout = 30
timeout = 60
keepalive = 5
# Recycle a worker after about MAX_REQUESTS requests (0: never), each at a different count
# (jitter), so the workers do not all restart at once; the stop drains like a reload.
max_requests = int(os.environ.get("MAX_REQUESTS", "0"))
max_requests_jitter = int(os.environ.get("MAX_REQUESTS_JITTER", str(max_requests // 10)))
# One source of truth for proxies: the app's TRUSTED_PROXIES (the rate limiter reads
# X-Forwarded-For itself, only from those peers). gunicorn's default (127.0.0.1) would let
# uvicorn rewrite the client address from X-Forwarded-For before the app sees the request,
# so any local caller could pick its own address and reset the login limits. Trust none here.
forwarded_allow_ips = ""
# The app writes its own JSON access log (with route template and request id).
accesslog = None
errorlog = "-"
loglevel = _settings.log_level.lower()
# One control socket per master: two instances on one host never fight over the default
# ~/.gunicorn/gunicorn.ctl.
control_socket = os.environ.get(
    "GUNICORN_CONTROL_SOCKET",
    os.path.join(tempfile.gettempdir(), f"phresh-gunicorn-{os.getpid()}.ctl"),
)

# Prometheus multiprocess mode: every worker writes its metrics to files in this folder and
# a scrape of any worker sums them. Set before the workers start (prometheus-client reads
# it at import); one folder per master, wiped when the master starts and when it exits.
METRICS_DIR = os.environ.setdefault(
    "PROMETHEUS_MULTIPROC_DIR",
    os.path.join(tempfile.gettempdir(), f"phresh-metrics-{os.getpid()}"),
)
# Exists from the start: `--check-config` and `--preload` import the app in the master
# before on_starting runs.
os.makedirs(METRICS_DIR, exist_ok=True)
_MASTER_PID = os.getpid()


@atexit.register
def _remove_metrics_dir() -> None:
    """Whatever way the master ends (`--check-config`, a failed bind), leave nothing behind
    in the temporary folder. Workers (forked, other pids) never remove it."""
    if os.getpid() == _MASTER_PID:
        shutil.rmtree(METRICS_DIR, ignore_errors=True)


def _address_in_use(address: tuple[str, int]) -> bool:
    family = socket.AF_INET6 if ":" in address[0] else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind(address)
        except OSError:
            return True
    return False


def on_starting(server: Any) -> None:
    # A busy port: one clear line and exit 1, instead of gunicorn's five raw retries (which
    # would also leave the metrics folder behind). Runs once, before gunicorn binds.
    for address in server.cfg.address:
        if isinstance(address, tuple) and _address_in_use(address):
            shutil.rmtree(METRICS_DIR, ignore_errors=True)
            host, port = address
            sys.exit(
                f"phresh: {host}:{port} is already in use (another `make run`?). Stop that "
                f"server, or pick another port: make run PORT={port + 1}"
            )
    shutil.rmtree(METRICS_DIR, ignore_errors=True)
    os.makedirs(METRICS_DIR, exist_ok=True)


def child_exit(server: Any, worker: Any) -> None:
    from prometheus_client import multiprocess

    multiprocess.mark_process_dead(worker.pid)  # type: ignore[no-untyped-call]


def on_exit(server: Any) -> None:
    shutil.rmtree(METRICS_DIR, ignore_errors=True)
