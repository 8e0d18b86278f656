"""`make bench-instructions`: CPU instructions per request, Phresh beside the ceiling.

Wall-clock figures on this 2-core machine move by 20-50 % from one minute to the next (other
tenants, frequency), so a change worth 5 % cannot be seen in them, and py-spy's wall-clock
samples overstate whatever sits at a system call. This counts instructions instead, which
are the same from run to run: each app (Phresh as `backend.main:app` in production mode,
and `scripts/bench/reference_app.py`) is driven in-process, through ASGI with no sockets or
HTTP parsing, under valgrind's callgrind, once with N requests and once with 3N; the
difference divided by 2N is the cost of one request, start-up and imports excluded. The
database is the bench's 10k database (its statements run in PostgreSQL, not counted here).

Bounded: 2 runs per app of N + 3N requests (default N = 400: about 5 minutes per app).
Needs valgrind (`apt-get install valgrind`).
"""

from __future__ import annotations

import argparse
import asyncio
import importlib.util
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from scripts.bench.run import (  # noqa: E402
    SECRET,
    SEED_PASSWORD,
    as_app_role,
    find_fixture,
    prepare_database,
)

PATHS = {
    "me": "/api/users/me/",
    "get_cleaning": "/api/cleanings/{cleaning}/",
    "feed": "/api/feed/cleanings/",
    "offers": "/api/cleanings/{cleaning}/offers/",
    "create_cleaning": "/api/cleanings/",
}
# The scenarios that POST, and their JSON body (the bench's, scripts/bench/run.py).
BODIES = {
    "create_cleaning": b'{"new_cleaning": {"name": "bench job", "description": "wrk", "price": 42.5}}',
}
REFERENCE_SECRET = "reference-secret"
ASGIApp = Callable[[dict[str, Any], Any, Any], Awaitable[None]]


def load_app(which: str, database_url: str) -> ASGIApp:
    os.environ.update(
        DATABASE_URL=as_app_role(database_url),
        ENVIRONMENT="production",
        LOG_LEVEL="WARNING",
        AUTH_RATE_LIMIT_PER_ADDRESS="1000000000",
        LOGIN_RATE_LIMIT_PER_ACCOUNT="1000000000",
        PROMETHEUS_MULTIPROC_DIR=tempfile.mkdtemp(),  # as under gunicorn
    )
    if which == "reference":
        os.environ["SECRET_KEY"] = REFERENCE_SECRET
        spec = importlib.util.spec_from_file_location(
            "reference_app", ROOT / "scripts" / "bench" / "reference_app.py"
        )
        assert spec is not None and spec.loader is not None
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        app: ASGIApp = module.app
        return app
    os.environ["SECRET_KEY"] = SECRET
    from backend.main import app as phresh

    return phresh


async def call(
    app: ASGIApp,
    state: dict[str, Any],
    method: str,
    path: str,
    *,
    headers: list[tuple[bytes, bytes]],
    body: bytes = b"",
) -> list[dict[str, Any]]:
    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": method,
        "scheme": "http",
        "path": path,
        "raw_path": path.encode(),
        "query_string": b"",
        "root_path": "",
        "headers": [(b"host", b"127.0.0.1:8000"), *headers],
        "client": ("127.0.0.1", 50000),
        "server": ("127.0.0.1", 8000),
        "state": state.copy(),
    }
    sent: list[dict[str, Any]] = []

    async def receive() -> dict[str, Any]:
        return {"type": "http.request", "body": body, "more_body": False}

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    await app(scope, receive, send)
    return sent


async def drive(app: ASGIApp, database_url: str, scenario: str, requests: int) -> None:
    """Lifespan up, log in, warm up, `requests` requests 8 at a time, lifespan down."""
    state: dict[str, Any] = {}
    events: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
    started = asyncio.Event()

    async def lifespan_send(message: dict[str, Any]) -> None:
        if message["type"] == "lifespan.startup.failed":
            raise SystemExit(f"the app did not start: {message.get('message')}")
        if message["type"] == "lifespan.startup.complete":
            started.set()

    lifespan = asyncio.ensure_future(
        app(
            {"type": "lifespan", "asgi": {"version": "3.0"}, "state": state},
            events.get,
            lifespan_send,
        )
    )
    await events.put({"type": "lifespan.startup"})
    await started.wait()
    fixture = await find_fixture(database_url)
    form = f"username={fixture.owner_email}&password={SEED_PASSWORD}".encode()
    login = await call(
        app,
        state,
        "POST",
        "/api/users/login/token/",
        headers=[(b"content-type", b"application/x-www-form-urlencoded")],
        body=form,
    )
    token = json.loads(login[1]["body"])["access_token"]
    headers = [(b"authorization", f"Bearer {token}".encode())]
    path = PATHS[scenario].format(cleaning=fixture.offers_cleaning)
    body = BODIES.get(scenario, b"")
    method = "POST" if body else "GET"
    if body:
        headers.append((b"content-type", b"application/json"))
    first = await call(app, state, method, path, headers=headers, body=body)
    if first[0]["status"] not in {200, 201}:
        raise SystemExit(f"{path}: {first[0]['status']} {first[1].get('body', b'')[:200]!r}")

    async def worker(count: int) -> None:
        for _ in range(count):
            await call(app, state, method, path, headers=headers, body=body)

    await worker(100)  # warm: pool connections, statement caches, lazily built schemas
    await asyncio.gather(*(worker(requests // 8) for _ in range(8)))
    await events.put({"type": "lifespan.shutdown"})
    await lifespan


def inner(args: argparse.Namespace) -> int:
    import uvloop

    app = load_app(args.app, args.database_url)
    uvloop.run(drive(app, args.database_url, args.scenario, args.requests))
    return 0


def instructions(app: str, database_url: str, scenario: str, requests: int) -> int:
    """Instructions of a whole run of `requests` requests under callgrind."""
    command = [
        "valgrind",
        "--tool=callgrind",
        "--callgrind-out-file=/dev/null",
        sys.executable,
        __file__,
        "--inner",
        "--app",
        app,
        "--database-url",
        database_url,
        "--scenario",
        scenario,
        "--requests",
        str(requests),
    ]
    done = subprocess.run(command, capture_output=True, text=True, timeout=1800, check=False)
    found = re.search(r"Collected : (\d+)", done.stderr)
    if done.returncode != 0 or found is None:
        raise SystemExit(f"{app} under callgrind failed:\n{done.stdout}\n{done.stderr[-2000:]}")
    return int(found[1])


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--database-url", required=True, help="server for the bench database")
    parser.add_argument("--scenario", default="offers", choices=sorted(PATHS))
    parser.add_argument("--app", default="both", choices=("phresh", "reference", "both"))
    parser.add_argument("--requests", type=int, default=400, help="N (runs N and 3N)")
    parser.add_argument("--inner", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.inner:
        return inner(args)
    if shutil.which("valgrind") is None:
        print("bench-instructions needs valgrind: apt-get install valgrind", file=sys.stderr)
        return 1
    url = prepare_database(args.database_url, "10k")
    apps = ("phresh", "reference") if args.app == "both" else (args.app,)
    per_request = {}
    for app in apps:
        few = instructions(app, url, args.scenario, args.requests)
        many = instructions(app, url, args.scenario, 3 * args.requests)
        per_request[app] = (many - few) / (2 * args.requests)
        print(f"{args.scenario}: {app:9} {per_request[app] / 1000:8,.0f} k instructions a request")
    if len(per_request) == 2:
        ratio = per_request["phresh"] / per_request["reference"]
        print(f"{args.scenario}: Phresh / ceiling = {ratio:.2f}x")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
