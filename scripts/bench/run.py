"""`make bench`: Phresh under gunicorn (2 uvicorn workers) against the reference app (raw
ASGI + asyncpg, same SQL) on the same seeded database, driven by wrk on 127.0.0.1.

Writes docs/benchmarks.md and docs/benchmarks.png. Every load run is bounded in time; the
whole run takes about 13 minutes (`--quick`: about 3).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import re
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import asyncpg
import httpx

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from backend.core.models import Cursor  # noqa: E402
from backend.core.sql import guarded, load_queries  # noqa: E402
from scripts.bench.cpu import tree_cpu  # noqa: E402

SECRET = "bench-secret-key-" + "b" * 32
SEED_PASSWORD = "seed-password"
SIZES = {"10k": (1_000, 10_000), "1m": (100_000, 1_000_000)}
SCENARIOS = ("me", "get_cleaning", "create_cleaning", "feed", "offers")


@dataclass
class Run:
    rps: float
    p50_ms: float
    p99_ms: float
    errors: int
    requests: int
    cpu_us: float
    pg_cpu_us: float = 0.0


@dataclass
class Results:
    rounds: dict[tuple[str, str], list[Run]] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)

    def median(self, app: str, scenario: str) -> Run:
        runs = self.rounds[(app, scenario)]
        return Run(
            rps=statistics.median(r.rps for r in runs),
            p50_ms=statistics.median(r.p50_ms for r in runs),
            p99_ms=statistics.median(r.p99_ms for r in runs),
            errors=sum(r.errors for r in runs),
            requests=sum(r.requests for r in runs),
            cpu_us=statistics.median(r.cpu_us for r in runs),
            pg_cpu_us=statistics.median(r.pg_cpu_us for r in runs),
        )


# -- the database -------------------------------------------------------------------------


def with_database(url: str, name: str) -> str:
    return urlunsplit(urlsplit(url)._replace(path=f"/{name}"))


APP_ROLE = "phresh_app"


def as_app_role(url: str) -> str:
    """The servers connect as the DML-only role, as in production (which refuses a
    superuser); the bench's own setup and measurements stay on the admin URL."""
    parts = urlsplit(url)
    return urlunsplit(parts._replace(netloc=f"{APP_ROLE}@{parts.hostname}:{parts.port or 5432}"))


def grant_roles(server_url: str, database: str) -> None:
    """scripts/db-roles on the bench database (idempotent): owner and app roles, timeouts."""
    command = ["scripts/db-roles", "--admin-url", server_url, "--database", database]
    subprocess.run(command, cwd=ROOT, check=True, capture_output=True)


async def cleaning_count(url: str) -> int:
    try:
        connection = await asyncpg.connect(url, timeout=5)
    except asyncpg.InvalidCatalogNameError:
        return -1
    try:
        return int(await connection.fetchval("SELECT count(*) FROM cleanings"))
    except asyncpg.UndefinedTableError:
        return -1
    finally:
        await connection.close()


def prepare_database(server_url: str, size: str) -> str:
    """A seeded database per size, built once and reused (scripts/seed is deterministic)."""
    users, cleanings = SIZES[size]
    url = with_database(server_url, f"phresh_bench_{size}")
    if asyncio.run(cleaning_count(url)) >= cleanings:
        migrate = [sys.executable, "-m", "alembic", "-x", f"url={url}", "upgrade", "head"]
        subprocess.run(migrate, cwd=ROOT, check=True, capture_output=True)
        grant_roles(server_url, f"phresh_bench_{size}")
        return url
    print(f"seeding phresh_bench_{size} ({users:,} users, {cleanings:,} cleanings) ...", flush=True)
    python = sys.executable
    subprocess.run([python, "scripts/dbtool.py", "ensure-db", url], cwd=ROOT, check=True)
    subprocess.run(
        [python, "-m", "alembic", "-x", f"url={url}", "upgrade", "head"], cwd=ROOT, check=True
    )
    subprocess.run(
        [
            python,
            "scripts/seed.py",
            "--users",
            str(users),
            "--cleanings",
            str(cleanings),
            "--database-url",
            url,
        ],
        cwd=ROOT,
        check=True,
    )
    asyncio.run(analyze(url))
    grant_roles(server_url, f"phresh_bench_{size}")
    return url


async def analyze(url: str) -> None:
    connection = await asyncpg.connect(url)
    try:
        await connection.execute("VACUUM ANALYZE")
    finally:
        await connection.close()


@dataclass(frozen=True)
class Fixture:
    owner_email: str
    offers_cleaning: int
    min_id: int
    max_id: int
    deep_cursor: str


async def find_fixture(url: str) -> Fixture:
    """An owner whose cleaning has offers, the id range, and a cursor deep into the feed."""
    connection = await asyncpg.connect(url)
    try:
        row = await connection.fetchrow(
            "SELECT c.id, u.email FROM cleanings c JOIN users u ON u.id = c.owner "
            "WHERE (SELECT count(*) FROM offers o WHERE o.cleaning_id = c.id) >= 4 "
            "AND u.username LIKE 'seed_%' ORDER BY c.id LIMIT 1"
        )
        low, high = await connection.fetchrow(
            "SELECT min(id), max(id) FROM cleanings WHERE name NOT LIKE 'bench %'"
        )
        deep = await connection.fetchrow(
            "SELECT created_at, id FROM cleanings ORDER BY created_at DESC, id DESC "
            "OFFSET (SELECT count(*) * 3 / 4 FROM cleanings) LIMIT 1"
        )
    finally:
        await connection.close()
    cursor = Cursor(ts=deep["created_at"], id=deep["id"]).encode()
    return Fixture(row["email"], row["id"], low, high, cursor)


# -- servers ---------------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class Server:
    name: str
    base: str
    process: subprocess.Popen[bytes]

    def worker_pids(self) -> list[int]:
        children = (
            Path(f"/proc/{self.process.pid}/task/{self.process.pid}/children").read_text().split()
        )
        return [int(pid) for pid in children]

    def cpu_seconds(self) -> float:
        return tree_cpu([self.process.pid])

    def worker_rss_mib(self) -> list[float]:
        sizes = []
        for pid in self.worker_pids():
            pages = int(Path(f"/proc/{pid}/statm").read_text().split()[1])
            sizes.append(pages * os.sysconf("SC_PAGE_SIZE") / 2**20)
        return sizes


@contextmanager
def serve(
    name: str, command: list[str], db_url: str, pool_size: int | None = None
) -> Iterator[Server]:
    """`command` with PORT in it replaced by a free port; `pool_size` connections per process
    (`DB_POOL_MAX_SIZE`, which both apps read), else the app's own default."""
    port = free_port()
    env = {
        **os.environ,
        "DATABASE_URL": as_app_role(db_url),
        "SECRET_KEY": SECRET,
        "ENVIRONMENT": "production",
        "LOG_LEVEL": "WARNING",
        "HOST": "127.0.0.1",
        "PORT": str(port),
        "WEB_CONCURRENCY": "2",
        # The bench logs in from one address far faster than any person would.
        "AUTH_RATE_LIMIT_PER_ADDRESS": "1000000000",
        "LOGIN_RATE_LIMIT_PER_ACCOUNT": "1000000000",
    }
    env.pop("PROMETHEUS_MULTIPROC_DIR", None)
    if pool_size is not None:
        env["DB_POOL_MAX_SIZE"] = str(pool_size)
    process = subprocess.Popen(
        [part.replace("PORT", str(port)) for part in command],
        cwd=ROOT,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                if httpx.get(f"{base}/api/users/me/", timeout=1).status_code in {200, 401}:
                    break
            except httpx.TransportError:
                pass
            if process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"{name} did not start")
            time.sleep(0.2)
        yield Server(name, base, process)
    finally:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()


def phresh(db_url: str, pool_size: int | None = None) -> AbstractContextManager[Server]:
    command = [sys.executable, "-m", "gunicorn", "backend.main:app", "-c", "gunicorn.conf.py"]
    return serve("phresh", command, db_url, pool_size)


def reference(db_url: str, pool_size: int | None = None) -> AbstractContextManager[Server]:
    """The independent ceiling: raw ASGI on 2 uvicorn processes sharing the port."""
    script = str(ROOT / "scripts" / "bench" / "reference_app.py")
    return serve(
        "reference",
        [sys.executable, script, "--port", "PORT", "--processes", "2"],
        db_url,
        pool_size,
    )


# -- load ------------------------------------------------------------------------------------


def login_token(base: str, email: str) -> str:
    response = httpx.post(
        f"{base}/api/users/login/token/", data={"username": email, "password": SEED_PASSWORD}
    )
    response.raise_for_status()
    return str(response.json()["access_token"])


def lua_script(scenario: str, token: str, fixture: Fixture, directory: Path) -> tuple[str, Path]:
    """The path wrk starts from and a Lua script that shapes each request."""
    auth = f'wrk.headers["Authorization"] = "Bearer {token}"\n'
    scripts = {
        "me": ("/api/users/me/", auth),
        "get_cleaning": (
            "/api/cleanings/1/",
            auth + f"math.randomseed(42)\nrequest = function()\n"
            f'  return wrk.format("GET", "/api/cleanings/" .. math.random({fixture.min_id}, {fixture.max_id}) .. "/")\nend\n',
        ),
        "create_cleaning": (
            "/api/cleanings/",
            auth + 'wrk.method = "POST"\nwrk.headers["Content-Type"] = "application/json"\n'
            'wrk.body = \'{"new_cleaning": {"name": "bench job", "description": "wrk", "price": 42.5}}\'\n',
        ),
        "feed": ("/api/feed/cleanings/", auth),
        "feed_deep": (f"/api/feed/cleanings/?cursor={fixture.deep_cursor}", auth),
        "offers": (f"/api/cleanings/{fixture.offers_cleaning}/offers/", auth),
        "login": (
            "/api/users/login/token/",
            'wrk.method = "POST"\nwrk.headers["Content-Type"] = "application/x-www-form-urlencoded"\n'
            f'wrk.body = "username={fixture.owner_email}&password={SEED_PASSWORD}"\n',
        ),
    }
    path, lua = scripts[scenario]
    file = directory / f"{scenario}.lua"
    file.write_text(lua)
    return path, file


def parse_duration_ms(text: str) -> float:
    match = re.match(r"([\d.]+)(us|ms|s|m)", text)
    if match is None:
        raise ValueError(f"unexpected wrk duration {text!r}")
    value, unit = match.groups()
    return float(value) * {"us": 0.001, "ms": 1.0, "s": 1000.0, "m": 60000.0}[unit]


def settle(server: Server, limit: float = 60.0) -> None:
    """Wait until the server is idle: wrk stops sending, but requests it left queued (logins
    waiting for a hashing thread) still burn CPU, and would tax the next measurement."""
    deadline = time.monotonic() + limit
    previous = server.cpu_seconds()
    while time.monotonic() < deadline:
        time.sleep(0.5)
        current = server.cpu_seconds()
        if current - previous < 0.02:
            return
        previous = current


def wrk(
    server: Server,
    path: str,
    script: Path,
    seconds: int,
    connections: int,
    *,
    timeout: int = 5,
    postmaster: int | None = None,
) -> Run:
    """One bounded wrk run; with `postmaster`, PostgreSQL's CPU per request too (all its
    backends: nothing else uses the cluster meanwhile)."""
    cpu_before = server.cpu_seconds()
    pg_before = tree_cpu([postmaster]) if postmaster else 0.0
    result = subprocess.run(
        [
            "wrk",
            "-t1",
            f"-c{connections}",
            f"-d{seconds}s",
            "--timeout",
            f"{timeout}s",
            "--latency",
            "-s",
            str(script),
            server.base + path,
        ],
        capture_output=True,
        text=True,
        timeout=seconds + 60,
        check=True,
    )
    cpu = server.cpu_seconds() - cpu_before
    pg_cpu = tree_cpu([postmaster]) - pg_before if postmaster else 0.0
    out = result.stdout
    requests = int(re.search(r"(\d+) requests in", out).group(1))  # type: ignore[union-attr]
    errors = int(m.group(1)) if (m := re.search(r"Non-2xx or 3xx responses: (\d+)", out)) else 0
    if m := re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", out):
        errors += sum(int(x) for x in m.groups())
    return Run(
        rps=float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1)),  # type: ignore[union-attr]
        p50_ms=parse_duration_ms(re.search(r"^\s+50%\s+(\S+)", out, re.M).group(1)),  # type: ignore[union-attr]
        p99_ms=parse_duration_ms(re.search(r"^\s+99%\s+(\S+)", out, re.M).group(1)),  # type: ignore[union-attr]
        errors=errors,
        requests=requests,
        cpu_us=cpu / max(requests, 1) * 1e6,
        pg_cpu_us=pg_cpu / max(requests, 1) * 1e6,
    )


async def data_directory(url: str) -> str:
    connection = await asyncpg.connect(url)
    try:
        return str(await connection.fetchval("SHOW data_directory"))
    finally:
        await connection.close()


def postmaster_of(url: str) -> int:
    """The local PostgreSQL server's postmaster (first line of its postmaster.pid)."""
    folder = Path(asyncio.run(data_directory(url)))
    return int((folder / "postmaster.pid").read_text().split()[0])


# -- the parts of the report ------------------------------------------------------------------


def compare(
    db_url: str, fixture: Fixture, args: argparse.Namespace, results: Results, workdir: Path
) -> None:
    """Every scenario on both apps, alternating, `rounds` times; each app logs in itself
    (the reference issues its own HMAC tokens)."""
    postmaster = postmaster_of(db_url)
    with phresh(db_url, args.pool_size) as ours, reference(db_url, args.pool_size) as ref:
        tokens = {s.name: login_token(s.base, fixture.owner_email) for s in (ours, ref)}
        for round_ in range(args.rounds):
            for scenario in args.scenarios:
                order = (ours, ref) if round_ % 2 == 0 else (ref, ours)
                for server in order:
                    path, script = lua_script(scenario, tokens[server.name], fixture, workdir)
                    settle(ours)
                    settle(ref)
                    run = wrk(
                        server, path, script, args.seconds, args.connections, postmaster=postmaster
                    )
                    results.rounds.setdefault((server.name, scenario), []).append(run)
                    print(
                        f"round {round_ + 1} {scenario:<16} {server.name:<10} {run.rps:>8.0f} req/s "
                        f"p50 {run.p50_ms:6.1f} ms p99 {run.p99_ms:6.1f} ms errors {run.errors} "
                        f"cpu {run.cpu_us:6.0f} us/req pg {run.pg_cpu_us:6.0f} us/req",
                        flush=True,
                    )


def scale(
    urls: dict[str, str], args: argparse.Namespace, workdir: Path
) -> dict[str, dict[str, Run]]:
    """p50 of the read paths on 10k and on 1M cleanings (16 connections, below saturation)."""
    found: dict[str, dict[str, Run]] = {}
    for size, url in urls.items():
        fixture = asyncio.run(find_fixture(url))
        with phresh(url, args.pool_size) as ours:
            token = login_token(ours.base, fixture.owner_email)
            for scenario in ("get_cleaning", "feed", "feed_deep", "offers"):
                path, script = lua_script(scenario, token, fixture, workdir)
                wrk(ours, path, script, 2, 16)  # warm the caches
                run = wrk(ours, path, script, args.scale_seconds, 16)
                found.setdefault(scenario, {})[size] = run
                print(
                    f"scale {size:<4} {scenario:<13} p50 {run.p50_ms:6.2f} ms p99 {run.p99_ms:6.2f} ms",
                    flush=True,
                )
    return found


def memory_and_auth(
    db_url: str, fixture: Fixture, args: argparse.Namespace, workdir: Path
) -> dict[str, object]:
    found: dict[str, object] = {}
    with phresh(db_url, args.pool_size) as ours:
        token = login_token(ours.base, fixture.owner_email)
        path, script = lua_script("get_cleaning", token, fixture, workdir)
        wrk(ours, path, script, 5, 64)
        found["rss_warm"] = ours.worker_rss_mib()
        served = 0
        while served < args.memory_requests:
            served += wrk(ours, path, script, 10, 64).requests
        found["rss_after"] = ours.worker_rss_mib()
        found["memory_requests"] = served
        quiet = wrk(ours, path, script, args.seconds, 16)
        login_path, login_script = lua_script("login", token, fixture, workdir)
        with subprocess.Popen(
            [
                "wrk",
                "-t1",
                "-c8",
                f"-d{args.seconds + 2}s",
                "-s",
                str(login_script),
                ours.base + login_path,
            ],
            stdout=subprocess.PIPE,
            text=True,
        ) as logins:
            time.sleep(1)
            busy = wrk(ours, path, script, args.seconds, 16)
            login_out, _ = logins.communicate(timeout=args.seconds + 60)
        found["quiet"] = quiet
        found["busy"] = busy
        found["login_rps"] = float(re.search(r"Requests/sec:\s+([\d.]+)", login_out).group(1))  # type: ignore[union-attr]
    return found


async def explain_all(url: str, fixture: Fixture, user_id: int) -> str:
    q = {
        **load_queries("cleanings"),
        **load_queries("feed"),
        **load_queries("offers"),
        **load_queries("users"),
    }
    deep = Cursor.decode(fixture.deep_cursor)
    newest = (datetime(9999, 12, 31, tzinfo=UTC), 2**63 - 1)
    session = str(uuid.uuid4())  # an access token's login session: the session check runs

    def plan(title: str, name: str, **params: Any) -> tuple[str, str, list[Any]]:
        return title, q[name].sql, q[name].args(params)  # by name: the SQL's $n order

    def first_read(title: str, name: str, **params: Any) -> tuple[str, str, list[Any]]:
        """As a request's first read runs: with the caller's check folded in (core/auth.py)."""
        query = guarded(q[name], q["caller_still_valid"])
        caller = {"caller_id": user_id, "caller_token_version": 0, "caller_session": session}
        return f"{title}, the caller's check folded in", query.sql, query.args(params | caller)

    plans = [
        plan(
            "get_current_user (the caller's check on its own: a write first, an empty read)",
            "get_current_user",
            user_id=user_id,
            family_id=session,
        ),
        first_read("get_user_by_id (/me)", "get_user_by_id", user_id=user_id),
        first_read(
            "get_cleaning_by_id",
            "get_cleaning_by_id",
            cleaning_id=(fixture.min_id + fixture.max_id) // 2,
            viewer_id=user_id,
        ),
        first_read(
            "list_feed_events, first page",
            "list_feed_events",
            before_ts=newest[0],
            before_id=newest[1],
            limit=21,
            viewer_id=user_id,
        ),
        first_read(
            "list_feed_events, deep cursor page",
            "list_feed_events",
            before_ts=deep.ts,
            before_id=deep.id,
            limit=21,
            viewer_id=user_id,
        ),
        first_read(
            "list_offers_for_cleaning (the owner check and the page in one statement)",
            "list_offers_for_cleaning",
            cleaning_id=fixture.offers_cleaning,
            after_ts=datetime(1, 1, 2, tzinfo=UTC),
            after_id=0,
            limit=101,
        ),
    ]
    connection = await asyncpg.connect(url)
    sections = []
    try:
        await connection.execute("SET TIME ZONE 'UTC'")
        for title, sql, params in plans:
            rows = await connection.fetch(f"EXPLAIN (ANALYZE, BUFFERS) {sql}", *params)
            sections.append(f"#### {title}\n\n```\n" + "\n".join(r[0] for r in rows) + "\n```\n")
    finally:
        await connection.close()
    return "\n".join(sections)


# -- the report --------------------------------------------------------------------------------


def chart(results: Results, scenarios: tuple[str, ...], path: Path, connections: int) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    ours = [results.median("phresh", s).rps for s in scenarios]
    ref = [results.median("reference", s).rps for s in scenarios]
    positions = range(len(scenarios))
    figure, axis = plt.subplots(figsize=(9, 4.5), dpi=120)
    axis.bar(
        [p - 0.2 for p in positions],
        ref,
        0.4,
        label="reference (raw ASGI + asyncpg)",
        color="#9aa5b1",
    )
    axis.bar([p + 0.2 for p in positions], ours, 0.4, label="Phresh", color="#2f80ed")
    for p, (a, b) in enumerate(zip(ours, ref, strict=True)):
        axis.annotate(f"{a / b:.0%}", (p + 0.2, a), ha="center", va="bottom", fontsize=8)
    axis.set_xticks(list(positions), scenarios)
    axis.set_ylabel("requests/s (median of rounds)")
    axis.set_title(f"Phresh vs the reference app: 2 gunicorn workers, wrk -t1 -c{connections}")
    axis.legend()
    figure.tight_layout()
    figure.savefig(path)


def report(
    results: Results,
    args: argparse.Namespace,
    *,
    scale_runs: dict[str, dict[str, Run]],
    extra: dict[str, object],
    plans: str,
    started: float,
) -> str:
    lines = [
        "# Benchmarks",
        "",
        f"Generated by `make bench` (`scripts/bench/run.py`) on {datetime.now(UTC):%Y-%m-%d %H:%M} UTC, "
        f"in {(time.perf_counter() - started) / 60:.1f} minutes. Machine: {os.cpu_count()} cores shared by "
        "the servers, PostgreSQL and wrk. Phresh: gunicorn, 2 uvicorn workers. The reference "
        "(`scripts/bench/reference_app.py`) shares no code with Phresh: raw ASGI on 2 uvicorn "
        "processes sharing the port (SO_REUSEPORT), asyncpg with its statement cache, orjson, a "
        "stdlib-HMAC token, a primary-key lookup as authentication, one joined statement per "
        "read, JSON built in Python. Both apps: a pool of up to "
        f"{args.pool_size} PostgreSQL connections per process. "
        "Same seeded database (1,000 users, 10,000 cleanings); wrk "
        f"`-t1 -c{args.connections} -d{args.seconds}s`, {args.rounds} rounds alternating the two apps; medians "
        "quoted. Server CPU: the server's processes (master and workers); PostgreSQL CPU: the "
        "cluster's postmaster and every backend (nothing else uses it meanwhile); both user + "
        "system time per request, from `/proc`. Phresh runs with `LOG_LEVEL=WARNING` and the "
        "rate limits raised (one address logs in thousands of times).",
        "",
        "![requests per second](benchmarks.png)",
        "",
        "| scenario | req/s Phresh / ref | ratio | p99 ms Phresh / ref | p99 ratio "
        "| server CPU µs/req Phresh / ref | ratio | PostgreSQL CPU µs/req Phresh / ref | ratio "
        "| errors |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for scenario in args.scenarios:
        a, b = results.median("phresh", scenario), results.median("reference", scenario)
        lines.append(
            f"| {scenario} | {a.rps:,.0f} / {b.rps:,.0f} | **{a.rps / b.rps:.0%}** "
            f"| {a.p99_ms:.0f} / {b.p99_ms:.0f} | {a.p99_ms / b.p99_ms:.1f}x "
            f"| {a.cpu_us:,.0f} / {b.cpu_us:,.0f} | {a.cpu_us / b.cpu_us:.2f}x "
            f"| {a.pg_cpu_us:,.0f} / {b.pg_cpu_us:,.0f} | {a.pg_cpu_us / max(b.pg_cpu_us, 1):.2f}x "
            f"| {a.errors} / {b.errors} |"
        )
    lines += [
        "",
        "Every round:",
        "",
        "| app | scenario | round | req/s | p50 ms | p99 ms | errors | server µs/req | PostgreSQL µs/req |",
        "|---|---|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for (app, scenario), runs in sorted(results.rounds.items()):
        for i, r in enumerate(runs, 1):
            lines.append(
                f"| {app} | {scenario} | {i} | {r.rps:,.0f} | {r.p50_ms:.1f} | {r.p99_ms:.1f} | {r.errors} | {r.cpu_us:,.0f} | {r.pg_cpu_us:,.0f} |"
            )
    if scale_runs:
        lines += [
            "",
            "## Scale: 10k vs 1M cleanings",
            "",
            f"Phresh alone, wrk `-c16 -d{args.scale_seconds}s` after a 2 s warm-up. "
            "`feed_deep` starts from a cursor three quarters of the way down the feed.",
            "",
            "| request | p50 ms at 10k | p50 ms at 1M | ratio | p99 ms at 10k | p99 ms at 1M |",
            "|---|---:|---:|---:|---:|---:|",
        ]
        for scenario, by_size in scale_runs.items():
            small, big = by_size["10k"], by_size["1m"]
            lines.append(
                f"| {scenario} | {small.p50_ms:.2f} | {big.p50_ms:.2f} | {big.p50_ms / small.p50_ms:.2f}x "
                f"| {small.p99_ms:.2f} | {big.p99_ms:.2f} |"
            )
    if extra:
        warm, after = extra["rss_warm"], extra["rss_after"]
        quiet, busy = extra["quiet"], extra["busy"]
        assert isinstance(quiet, Run) and isinstance(busy, Run)
        lines += [
            "",
            "## Memory",
            "",
            f"RSS per worker after warm-up: {', '.join(f'{x:.1f}' for x in warm)} MiB; "  # type: ignore[attr-defined]
            f"after {extra['memory_requests']:,} more requests: {', '.join(f'{x:.1f}' for x in after)} MiB.",  # type: ignore[attr-defined]
            "",
            "## Authentication under load",
            "",
            "`GET /api/cleanings/{id}/` at 16 connections, alone and while 8 connections log in "
            "continuously (Argon2id t=3, m=64 MiB, p=4, in worker threads):",
            "",
            "| | req/s | p50 ms | p99 ms |",
            "|---|---:|---:|---:|",
            f"| alone | {quiet.rps:,.0f} | {quiet.p50_ms:.1f} | {quiet.p99_ms:.1f} |",
            f"| during logins ({extra['login_rps']:.1f} logins/s) | {busy.rps:,.0f} | {busy.p50_ms:.1f} | {busy.p99_ms:.1f} |",
        ]
    notes = Path(__file__).with_name("NOTES.md")
    if notes.exists():
        lines += ["", notes.read_text().rstrip()]
    if plans:
        lines += ["", "## Query plans at 1M cleanings (`EXPLAIN (ANALYZE, BUFFERS)`)", "", plans]
    lines += results.notes
    return "\n".join(lines) + "\n"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument(
        "--database-url",
        default=os.environ.get("DATABASE_URL"),
        help="server to create the bench databases on",
    )
    parser.add_argument("--seconds", type=int, default=15)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument(
        "--connections", type=int, default=64, help="wrk connections in the comparison"
    )
    parser.add_argument(
        "--pool-size",
        type=int,
        default=4,
        help="each worker's database pool, in both apps (DB_POOL_MAX_SIZE); 4 x 2 workers "
        "suits this 2-core machine better than the default 10 (NOTES.md)",
    )
    parser.add_argument("--scale-seconds", type=int, default=6)
    parser.add_argument("--memory-requests", type=int, default=100_000)
    parser.add_argument("--scenarios", nargs="+", default=list(SCENARIOS), choices=SCENARIOS)
    parser.add_argument(
        "--quick", action="store_true", help="5 s runs, 1 round, 10k rows only (a smoke run)"
    )
    parser.add_argument(
        "--skip-scale", action="store_true", help="10k rows only (no 1M database, no plans)"
    )
    parser.add_argument("--output", default=str(ROOT / "docs" / "benchmarks.md"))
    args = parser.parse_args()
    if not args.database_url:
        parser.error("--database-url or DATABASE_URL is required (make bench sets it)")
    if args.quick:
        args.seconds, args.rounds, args.scale_seconds, args.memory_requests = 5, 1, 3, 10_000
    started = time.perf_counter()
    urls = {"10k": prepare_database(args.database_url, "10k")}
    if not (args.quick or args.skip_scale):
        urls["1m"] = prepare_database(args.database_url, "1m")
    fixture = asyncio.run(find_fixture(urls["10k"]))
    plans = ""
    if "1m" in urls:  # first: a plan that fails should not cost the whole run
        big = asyncio.run(find_fixture(urls["1m"]))
        owner = asyncio.run(owner_id(urls["1m"], big.owner_email))
        plans = asyncio.run(explain_all(urls["1m"], big, owner))
    results = Results()
    with tempfile.TemporaryDirectory() as tmp:
        workdir = Path(tmp)
        compare(urls["10k"], fixture, args, results, workdir)
        scale_runs = scale(urls, args, workdir) if "1m" in urls else {}
        extra = memory_and_auth(urls["10k"], fixture, args, workdir)
    output = Path(args.output)
    output.parent.mkdir(parents=True, exist_ok=True)
    chart(results, tuple(args.scenarios), output.with_suffix(".png"), args.connections)
    output.write_text(
        report(results, args, scale_runs=scale_runs, extra=extra, plans=plans, started=started)
    )
    print(
        f"wrote {output} and {output.with_suffix('.png')} in {(time.perf_counter() - started) / 60:.1f} min"
    )
    return 0


async def owner_id(url: str, email: str) -> int:
    connection = await asyncpg.connect(url)
    try:
        return int(await connection.fetchval("SELECT id FROM users WHERE email = $1", email))
    finally:
        await connection.close()


if __name__ == "__main__":
    sys.exit(main())
