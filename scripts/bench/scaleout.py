"""`make scaleout-bench`: the scale-out lab (scripts/lab_scaleout.py: PostgreSQL, PgBouncer,
N Phresh instances, nginx, all on 127.0.0.1) measured with wrk; writes docs/scaleout.md.

Sections: CPU per request of each tier (direct, through PgBouncer, through nginx and
PgBouncer); N = 1..4 instances at 80 client connections; throughput under cgroup CPU quotas;
a rolling restart and a kill -9 under load; consistency across instances. Every load run is
bounded in time; the whole run takes about 6 minutes.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import re
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import asyncpg
import httpx

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from backend.core.sql import Query, guarded, load_queries  # noqa: E402
from scripts.bench.cpu import processes, tree, tree_cpu  # noqa: E402
from scripts.bench.run import parse_duration_ms  # noqa: E402
from scripts.lab_scaleout import Instance, Lab, free_port  # noqa: E402

CGROUP_CPU = Path("/sys/fs/cgroup/cpu")
PASSWORD = "amber-kettle-9-lantern"
SECONDS = 8
CONNECTIONS = 80  # the figure for N = 1..4


# -- CPU of process trees ----------------------------------------------------------------------


def tier_cpu(tiers: dict[str, list[int]]) -> dict[str, float]:
    """CPU seconds so far of each tier (a tier: the trees of its root pids)."""
    table = processes()
    return {name: tree_cpu(roots, table) for name, roots in tiers.items()}


def lab_tiers(lab: Lab, instances: list[Instance]) -> dict[str, list[int]]:
    return {
        "nginx": [p for p in [lab.nginx_pid()] if p],
        "PgBouncer": [p for p in [lab.bouncer_pid()] if p],
        "app": [i.pid for i in instances if i.pid],
        "PostgreSQL": [p for p in [lab.postmaster_pid()] if p],
    }


# -- load --------------------------------------------------------------------------------------


@dataclass
class Load:
    requests: int
    rps: float
    p50_ms: float
    p99_ms: float
    non_2xx: int
    socket_errors: int
    cpu_us: dict[str, float]  # per tier, per request
    backends_max: int = 0

    @property
    def total_cpu_us(self) -> float:
        return sum(self.cpu_us.values())


def lua(token: str, cleaning_ids: list[int], *, writes: bool) -> str:
    """Reads of another user's cleaning; with `writes`, every fourth request posts one."""
    ids = ", ".join(str(i) for i in cleaning_ids)
    post = (
        "if n % 4 == 0 then\n"  # wrk.format's headers replace wrk.headers: repeat the token
        '    return wrk.format("POST", "/api/cleanings/", {["Content-Type"] = "application/json",'
        f' ["Authorization"] = "Bearer {token}"}},'
        ' \'{"new_cleaning": {"name": "lab job", "price": 25}}\')\n'
        "  end\n"
        if writes
        else ""
    )
    return (
        f'wrk.headers["Authorization"] = "Bearer {token}"\n'
        f"local ids = {{{ids}}}\nlocal n = 0\n"
        "request = function()\n  n = n + 1\n"
        f"  {post}"
        '  return wrk.format("GET", "/api/cleanings/" .. ids[(n % #ids) + 1] .. "/")\n'
        "end\n"
    )


def parse_wrk(out: str) -> tuple[int, float, float, float, int, int]:
    requests = int(re.search(r"(\d+) requests in", out).group(1))  # type: ignore[union-attr]
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))  # type: ignore[union-attr]
    p50 = parse_duration_ms(re.search(r"^\s+50%\s+(\S+)", out, re.M).group(1))  # type: ignore[union-attr]
    p99 = parse_duration_ms(re.search(r"^\s+99%\s+(\S+)", out, re.M).group(1))  # type: ignore[union-attr]
    non_2xx = int(m.group(1)) if (m := re.search(r"Non-2xx or 3xx responses: (\d+)", out)) else 0
    errors = 0
    if m := re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", out):
        errors = sum(int(x) for x in m.groups())
    return requests, rps, p50, p99, non_2xx, errors


def start_wrk(url: str, script: Path, seconds: int, connections: int) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [
            "wrk",
            "-t1",
            f"-c{connections}",
            f"-d{seconds}s",
            "--timeout",
            "5s",
            "--latency",
            "-s",
            str(script),
            url,
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


class BackendSampler:
    """The most PostgreSQL client backends on the app's database seen during a run."""

    def __init__(self, admin_url: str) -> None:
        self.admin_url, self.most = admin_url, 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=lambda: asyncio.run(self._sample()), daemon=True)

    async def _sample(self) -> None:
        connection = await asyncpg.connect(self.admin_url)
        try:
            while not self._stop.is_set():
                count = await connection.fetchval(
                    "SELECT count(*) FROM pg_stat_activity"
                    " WHERE datname = 'phresh' AND backend_type = 'client backend'"
                )
                self.most = max(self.most, int(count))
                await asyncio.sleep(0.2)
        finally:
            await connection.close()

    def __enter__(self) -> BackendSampler:
        self._thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self._stop.set()
        self._thread.join(10)


def measure(
    url: str,
    script: Path,
    tiers: dict[str, list[int]],
    *,
    seconds: int = SECONDS,
    connections: int = CONNECTIONS,
    admin_url: str | None = None,
    during: Callable[[], None] | None = None,
) -> Load:
    """One bounded wrk run; the CPU each tier spent per request; `during` runs meanwhile."""
    before = tier_cpu(tiers)
    sampler = BackendSampler(admin_url) if admin_url else None
    with sampler if sampler else _nothing():
        process = start_wrk(url, script, seconds, connections)
        if during is not None:
            during()
        out, err = process.communicate(timeout=seconds + 60)
    if process.returncode != 0:
        raise RuntimeError(f"wrk failed: {err}")
    spent = tier_cpu(tiers)
    requests, rps, p50, p99, non_2xx, errors = parse_wrk(out)
    cpu = {name: (spent[name] - before[name]) / max(requests, 1) * 1e6 for name in tiers}
    return Load(requests, rps, p50, p99, non_2xx, errors, cpu, sampler.most if sampler else 0)


@contextmanager
def _nothing() -> Iterator[None]:
    yield


def settle(tiers: dict[str, list[int]], limit: float = 20) -> None:
    """Wait until every tier is idle, so one run's tail does not tax the next."""
    deadline, previous = time.monotonic() + limit, sum(tier_cpu(tiers).values())
    while time.monotonic() < deadline:
        time.sleep(0.5)
        current = sum(tier_cpu(tiers).values())
        if current - previous < 0.02:
            return
        previous = current


def median_load(loads: list[Load]) -> Load:
    return Load(
        requests=sum(x.requests for x in loads),
        rps=statistics.median(x.rps for x in loads),
        p50_ms=statistics.median(x.p50_ms for x in loads),
        p99_ms=statistics.median(x.p99_ms for x in loads),
        non_2xx=sum(x.non_2xx for x in loads),
        socket_errors=sum(x.socket_errors for x in loads),
        cpu_us={k: statistics.median(x.cpu_us[k] for x in loads) for k in loads[0].cpu_us},
        backends_max=max(x.backends_max for x in loads),
    )


# -- data --------------------------------------------------------------------------------------


@dataclass
class Seed:
    token: str  # the viewer's
    viewer_id: int
    cleaning_ids: list[int]  # the owner's


def register(http: httpx.Client, name: str) -> tuple[str, str]:
    name = f"{name}_{os.urandom(3).hex()}"
    email = f"{name}@example.com"
    created = http.post(
        "/api/users/",
        json={"new_user": {"email": email, "username": name, "password": PASSWORD}},
    )
    assert created.status_code == 201, created.text
    return email, created.json()["access_token"]["access_token"]


def seed(base: str) -> Seed:
    with httpx.Client(base_url=base, timeout=30) as http:
        _, owner = register(http, "owner")
        _, viewer = register(http, "viewer")
        me = http.get("/api/users/me/", headers={"Authorization": f"Bearer {viewer}"})
        ids = []
        for n in range(20):
            job = http.post(
                "/api/cleanings/",
                json={"new_cleaning": {"name": f"seed {n}", "price": 20 + n}},
                headers={"Authorization": f"Bearer {owner}"},
            )
            assert job.status_code == 201, job.text
            ids.append(job.json()["id"])
    return Seed(viewer, int(me.json()["id"]), ids)


# -- cgroup quotas -----------------------------------------------------------------------------


class Quotas:
    """cgroup v1 CPU quotas per tier (/sys/fs/cgroup/cpu/phresh-lab-*); removed at the end."""

    def __init__(self) -> None:
        self.groups: list[Path] = []

    @staticmethod
    def available() -> str | None:
        if not (CGROUP_CPU / "cgroup.procs").exists():
            return "no cgroup v1 CPU controller at /sys/fs/cgroup/cpu"
        if not os.access(CGROUP_CPU, os.W_OK):
            return "/sys/fs/cgroup/cpu is not writable (not root?)"
        return None

    def limit(self, name: str, cpus: float, roots: list[int]) -> None:
        group = CGROUP_CPU / f"phresh-lab-{name}"
        group.mkdir(exist_ok=True)
        (group / "cpu.cfs_period_us").write_text("100000")
        (group / "cpu.cfs_quota_us").write_text(str(int(cpus * 100000)))
        table = processes()
        for root in roots:
            for pid in tree(root, table):
                with contextlib.suppress(OSError):  # exited meanwhile
                    (group / "cgroup.procs").write_text(str(pid))
        self.groups.append(group)

    def remove(self) -> None:
        for group in self.groups:
            for pid in (group / "cgroup.procs").read_text().split():
                with suppress(OSError):
                    (CGROUP_CPU / "cgroup.procs").write_text(pid)
            group.rmdir()
        self.groups.clear()


# -- the sections ------------------------------------------------------------------------------


@dataclass
class Report:
    lines: list[str]

    def add(self, *lines: str) -> None:
        self.lines.extend(lines)
        for line in lines:
            print(line, flush=True)


def per_tier_table(rows: list[tuple[str, Load]]) -> list[str]:
    names = list(rows[0][1].cpu_us)
    head = "| path | req/s | p50 ms | p99 ms | " + " | ".join(f"{n} µs/req" for n in names)
    lines = [head + " | total µs/req | non-2xx + errors |", "|" + "---|" * (len(names) + 6)]
    for label, load in rows:
        cpu = " | ".join(f"{load.cpu_us[n]:,.0f}" for n in names)
        lines.append(
            f"| {label} | {load.rps:,.0f} | {load.p50_ms:.1f} | {load.p99_ms:.1f} | {cpu} "
            f"| {load.total_cpu_us:,.0f} | {load.non_2xx + load.socket_errors} |"
        )
    return lines


def section_tiers(lab: Lab, data: Seed, folder: Path, report: Report) -> None:
    script = folder / "read.lua"
    script.write_text(lua(data.token, data.cleaning_ids, writes=False))
    direct = lab.instances[-1]  # started with DATABASE_URL straight to PostgreSQL
    first = lab.instances[0]
    lab.route_to(1)
    paths = {
        "client → app → PostgreSQL": (direct.base, [direct]),
        "client → app → PgBouncer → PostgreSQL": (first.base, [first]),
        "client → nginx → app → PgBouncer → PostgreSQL": (lab.edge, [first]),
    }
    runs: dict[str, list[Load]] = {label: [] for label in paths}
    for round_ in range(2):
        order = list(paths) if round_ == 0 else list(reversed(paths))
        for label in order:
            base, instances = paths[label]
            tiers = lab_tiers(lab, instances)
            settle(tiers)
            runs[label].append(measure(f"{base}/api/cleanings/", script, tiers, connections=32))
    report.add(
        "## CPU per request, tier by tier",
        "",
        f"One instance (1 worker), wrk `-t1 -c32`, {SECONDS} s runs, 2 rounds in alternating "
        "order, medians. Request: `GET /api/cleanings/{id}/` of another user's job, "
        "authenticated. CPU from `/proc/<pid>/stat` (utime + stime, with reaped children) of "
        "each tier's processes; wrk's own CPU is not counted.",
        "",
        *per_tier_table([(label, median_load(loads)) for label, loads in runs.items()]),
        "",
        "Why PgBouncer costs this much here: PgBouncer 1.18 in transaction mode cannot keep "
        "prepared statements (protocol-level support came in 1.21; Debian 12 ships 1.18), so "
        "the app runs with asyncpg's statement cache off and PostgreSQL parses and plans every "
        "statement of every request again; asyncpg also needs a second round trip per "
        "statement to learn its types (a Parse/Describe round trip before every Bind/Execute: "
        "twice the messages and backend wake-ups). Planning alone, for this request's statement "
        "(the caller's check folded into the read, `backend/core/auth.py`), costs several "
        "times what running it does; the check on its own (before a write) likewise:",
        "",
        "| statement | planning ms | execution ms |",
        "|---|---|---|",
        *asyncio.run(planning_cost(lab.admin_url("phresh"), data.viewer_id, data.cleaning_ids[0])),
        "",
    )


async def planning_cost(admin_url: str, viewer_id: int, cleaning_id: int) -> list[str]:
    """Warm planning and execution time of the request's statement, and of the caller's
    check on its own (EXPLAIN ANALYZE, 20th run in one session): what PostgreSQL repeats for
    every statement behind PgBouncer 1.18, where nothing can stay prepared."""
    users = load_queries("users")
    caller = {"caller_id": viewer_id, "caller_token_version": 0, "caller_session": None}
    statements: list[tuple[str, Query, dict[str, Any]]] = [
        (
            "cleanings.get_cleaning_by_id, the caller's check folded in (the request)",
            guarded(load_queries("cleanings")["get_cleaning_by_id"], users["caller_still_valid"]),
            {"cleaning_id": cleaning_id, "viewer_id": viewer_id, **caller},
        ),
        (
            "users.get_current_user (the check on its own: before a write)",
            users["get_current_user"],
            {"user_id": viewer_id, "family_id": None},
        ),
    ]
    connection = await asyncpg.connect(admin_url)
    lines = []
    try:
        for label, query, params in statements:
            for _ in range(20):
                plan = await connection.fetch(
                    "EXPLAIN (ANALYZE, SUMMARY) " + query.sql, *query.args(params)
                )
            times = dict(
                re.findall(r"(Planning|Execution) Time: ([\d.]+) ms", "\n".join(r[0] for r in plan))
            )
            lines.append(
                f"| {label} | {float(times['Planning']):.3f} | {float(times['Execution']):.3f} |"
            )
    finally:
        await connection.close()
    return lines


def section_instances(lab: Lab, data: Seed, folder: Path, report: Report) -> dict[int, Load]:
    script = folder / "read.lua"
    results: dict[int, list[Load]] = {n: [] for n in range(1, 5)}
    for n in [1, 2, 3, 4, 4, 3, 2, 1]:
        lab.route_to(n)
        tiers = lab_tiers(lab, lab.instances[:n])
        settle(tiers)
        results[n].append(
            measure(f"{lab.edge}/api/cleanings/", script, tiers, admin_url=lab.admin_url())
        )
    medians = {n: median_load(loads) for n, loads in results.items()}
    totals = [m.total_cpu_us for m in medians.values()]
    mean = statistics.mean(totals)
    spread = max(abs(t - mean) / mean for t in totals) * 100
    report.add(
        "## N = 1..4 instances behind nginx, through PgBouncer",
        "",
        f"wrk `-t1 -c{CONNECTIONS}` at the edge, {SECONDS} s runs, N in the order 1 2 3 4 4 3 2 1, "
        f"medians. PgBouncer `default_pool_size` = {lab.pool_size}; the PostgreSQL column "
        "*backends* is the most client backends on the app's database seen (sampled every "
        "0.2 s).",
        "",
        "| N | req/s | p50 ms | p99 ms | nginx µs | PgBouncer µs | app µs | PostgreSQL µs "
        "| total µs/req | backends (max) | non-2xx + errors |",
        "|---|---|---|---|---|---|---|---|---|---|---|",
        *(
            f"| {n} | {m.rps:,.0f} | {m.p50_ms:.1f} | {m.p99_ms:.1f} | "
            + " | ".join(f"{m.cpu_us[t]:,.0f}" for t in ("nginx", "PgBouncer", "app", "PostgreSQL"))
            + f" | {m.total_cpu_us:,.0f} | {m.backends_max} | {m.non_2xx + m.socket_errors} |"
            for n, m in medians.items()
        ),
        "",
        f"Total CPU per request over N = 1..4: mean {mean:,.0f} µs, every N within "
        f"{spread:.1f} % of it (target ±15 %). Most PostgreSQL backends: "
        f"{max(m.backends_max for m in medians.values())} (pool {lab.pool_size} + 2 allowed: "
        "the pool's server connections, whatever the number of instances or clients).",
        "",
    )
    return medians


def section_quotas(lab: Lab, folder: Path, report: Report, measured: dict[int, Load]) -> None:
    report.add("## Throughput under CPU quotas", "")
    missing = Quotas.available()
    if missing:
        report.add(f"Skipped: {missing}.", "")
        return
    # Two cores cannot show scale-out by themselves: every tier shares them. With a quota
    # per instance and one for PostgreSQL, sized from the costs just measured, the app tier
    # is the bottleneck for small N and PostgreSQL once N instances can outrun it.
    one = measured[1]
    app_cpus = 0.2
    pg_cpus = round(max(0.05, 2.0 * app_cpus * one.cpu_us["PostgreSQL"] / one.cpu_us["app"]), 2)
    quotas = Quotas()
    script = folder / "read.lua"
    rows = []
    try:
        for index, instance in enumerate(lab.instances[:4]):
            assert instance.pid is not None
            quotas.limit(f"app{index}", app_cpus, [instance.pid])
        postmaster = lab.postmaster_pid()
        assert postmaster is not None
        quotas.limit("postgres", pg_cpus, [postmaster])
        for n in range(1, 5):
            lab.route_to(n)
            tiers = lab_tiers(lab, lab.instances[:n])
            settle(tiers)
            rows.append((n, measure(f"{lab.edge}/api/cleanings/", script, tiers)))
    finally:
        quotas.remove()
    app_bound = 1e6 * app_cpus / one.cpu_us["app"]
    pg_bound = 1e6 * pg_cpus / one.cpu_us["PostgreSQL"]
    report.add(
        f"Each instance capped at {app_cpus} CPU, PostgreSQL at {pg_cpus} CPU (cgroup v1 "
        "`cpu.cfs_quota_us`; sized from the N = 1 costs above so that PostgreSQL's cap is "
        "about two instances' worth); nginx, PgBouncer and wrk unconstrained. "
        f"Expected ceilings from the measured costs: {app_bound:,.0f} req/s per instance, "
        f"{pg_bound:,.0f} req/s for PostgreSQL.",
        "",
        "| N | req/s | p50 ms | p99 ms | app µs/req | PostgreSQL µs/req |",
        "|---|---|---|---|---|---|",
        *(
            f"| {n} | {m.rps:,.0f} | {m.p50_ms:.1f} | {m.p99_ms:.1f} | {m.cpu_us['app']:,.0f} "
            f"| {m.cpu_us['PostgreSQL']:,.0f} |"
            for n, m in rows
        ),
        "",
        "What this can show on 2 cores: that the instances share no bottleneck of their own "
        "(throughput grows with N while the app tier is the limit) and that PostgreSQL "
        "becomes the limit once the instances could outrun it. What it cannot show: absolute "
        "throughput on real hardware, or contention effects between cores that a 2-core "
        "machine does not have.",
        "",
    )


def section_rolling_restart(lab: Lab, data: Seed, folder: Path, report: Report) -> None:
    script = folder / "mixed.lua"
    script.write_text(lua(data.token, data.cleaning_ids, writes=True))
    lab.route_to(4)
    tiers = lab_tiers(lab, lab.instances[:4])
    settle(tiers)
    timings: list[float] = []

    def restart_each() -> None:
        time.sleep(2)
        for index in range(4):
            started = time.monotonic()
            lab.stop_instance(index)  # drain: stop accepting, finish in flight, then exit
            lab.start_instance(index)  # same port; nginx sends to it again once it answers
            timings.append(time.monotonic() - started)
            time.sleep(1)

    load = measure(
        f"{lab.edge}/api/cleanings/", script, tiers, seconds=30, connections=16, during=restart_each
    )
    report.add(
        "## Rolling restart under load",
        "",
        "Through nginx, 4 instances, wrk `-t1 -c16` for 30 s, every fourth request a `POST "
        "/api/cleanings/` (which no proxy may retry). Each instance in turn: SIGTERM (the "
        "instance drains: it stops accepting, so nginx's next connection attempt is refused and "
        "it moves to another instance; requests in flight finish and are answered with "
        "`Connection: close`), wait for it to exit, start it on the same port, wait for "
        "`/health/ready`; nginx routes to it again when its `fail_timeout` (5 s) ends.",
        "",
        f"- {load.requests:,} requests, {load.non_2xx} non-2xx, {load.socket_errors} socket "
        f"errors; p50 {load.p50_ms:.1f} ms, p99 {load.p99_ms:.1f} ms",
        "- restart of each instance (drain + start + ready): "
        + ", ".join(f"{t:.1f} s" for t in timings),
        "",
    )


def in_flight(instance: Instance) -> int:
    metrics = httpx.get(f"{instance.base}/metrics", timeout=2).text
    match = re.search(r"^phresh_http_requests_in_progress(?:\{[^}]*\})? ([\d.e+]+)$", metrics, re.M)
    return int(float(match.group(1))) - 1 if match else -1  # minus this scrape


def section_kill(lab: Lab, folder: Path, report: Report) -> None:
    script = folder / "mixed.lua"
    lab.route_to(4)
    victim = lab.instances[3]
    tiers = lab_tiers(lab, lab.instances[:4])
    settle(tiers)
    seen: list[int] = []

    def kill_one() -> None:
        time.sleep(3)
        seen.append(in_flight(victim))
        lab.stop_instance(3, sig=signal.SIGKILL)

    load = measure(
        f"{lab.edge}/api/cleanings/", script, tiers, seconds=10, connections=16, during=kill_one
    )
    lab.start_instance(3)
    failed = load.non_2xx + load.socket_errors
    report.add(
        "## kill -9 of one instance under load",
        "",
        "Through nginx, 4 instances, the same mixed load for 10 s; after 3 s `kill -9` of "
        "instance 4's process group (master and worker). A read in flight there is retried by "
        "nginx on another instance (the connection broke: `proxy_next_upstream error`); a POST "
        "in flight is not (it may have been applied) and fails with a JSON 502.",
        "",
        f"- {load.requests:,} requests; failed: {failed} ({load.non_2xx} non-2xx, "
        f"{load.socket_errors} socket errors); requests in flight on the killed instance "
        f"just before the kill: {seen[0] if seen else 'unknown'}",
        "",
    )


def section_consistency(lab: Lab, report: Report) -> None:
    a, b = lab.instances[0].base, lab.instances[1].base
    checks: list[tuple[str, bool]] = []
    with httpx.Client(timeout=30) as http:
        email, token = register_at(http, a, "consistent")
        bearer = {"Authorization": f"Bearer {token}"}
        checks.append(
            (
                "an access token from A works on B",
                http.get(f"{b}/api/users/me/", headers=bearer).status_code == 200,
            )
        )

        statuses = [
            login(http, (a, b)[n % 2], email, "wrong-password-1").status_code for n in range(10)
        ]
        eleventh = [login(http, base, email, PASSWORD).status_code for base in (a, b)]
        checks.append(
            (
                f"10 failed logins alternating A/B ({sorted(set(statuses))}) make the 11th "
                f"a 429 on either (A {eleventh[0]}, B {eleventh[1]})",
                set(statuses) == {401} and eleventh == [429, 429],
            )
        )

        email, _ = register_at(http, a, "rotating")
        first = login(http, a, email, PASSWORD).json()["refresh_token"]
        second = http.post(f"{a}/api/users/token/refresh/", json={"refresh_token": first})
        replay = http.post(f"{b}/api/users/token/refresh/", json={"refresh_token": first})
        after = http.post(
            f"{a}/api/users/token/refresh/", json={"refresh_token": second.json()["refresh_token"]}
        )
        checks.append(
            (
                "a refresh token rotated on A and replayed on B revokes the family "
                f"(rotation {second.status_code}, replay {replay.status_code}, "
                f"the family's newest token then {after.status_code})",
                (second.status_code, replay.status_code, after.status_code) == (200, 401, 401),
            )
        )

        email, token = register_at(http, a, "changing")
        bearer = {"Authorization": f"Bearer {token}"}
        changed = http.put(
            f"{a}/api/users/me/password/",
            json={
                "password_update": {"current_password": PASSWORD, "new_password": PASSWORD + "-2"}
            },
            headers=bearer,
        )
        on_b = http.get(f"{b}/api/users/me/", headers=bearer)
        checks.append(
            (
                f"a password change on A ({changed.status_code}) kills its tokens on B at once "
                f"(B answers {on_b.status_code})",
                (changed.status_code, on_b.status_code) == (204, 401),
            )
        )

        _, token = register_at(http, a, "paging")
        bearer = {"Authorization": f"Bearer {token}"}
        for n in range(5):
            http.post(
                f"{a}/api/cleanings/",
                json={"new_cleaning": {"name": f"p{n}", "price": 10}},
                headers=bearer,
            )
        page = http.get(f"{a}/api/cleanings/?limit=2", headers=bearer)
        link = page.headers.get("link", "")
        match = re.search(r"<([^>]+)>;\s*rel=\"next\"", link)
        following = (
            http.get(b + re.sub(r"^https?://[^/]+", "", match.group(1)), headers=bearer)
            if match
            else None
        )
        first_ids = [c["id"] for c in page.json()]
        next_ids = (
            [c["id"] for c in following.json()]
            if following is not None and following.status_code == 200
            else []
        )
        checks.append(
            (
                f"a `next` cursor from A works on B (page 1 {first_ids}, page 2 on B {next_ids})",
                bool(next_ids) and max(next_ids) < min(first_ids),
            )
        )
    report.add(
        "## Consistency across instances",
        "",
        "Instances A and B (ports of instances 1 and 2, not through nginx), one database:",
        "",
        *(f"- {'✓' if ok else '✗ FAILED'} {label}" for label, ok in checks),
        "",
    )
    if not all(ok for _, ok in checks):
        raise SystemExit("a consistency check failed (see above)")


def register_at(http: httpx.Client, base: str, name: str) -> tuple[str, str]:
    name = f"{name}_{os.urandom(3).hex()}"
    email = f"{name}@example.com"
    created = http.post(
        f"{base}/api/users/",
        json={"new_user": {"email": email, "username": name, "password": PASSWORD}},
    )
    assert created.status_code == 201, created.text
    return email, created.json()["access_token"]["access_token"]


def login(http: httpx.Client, base: str, email: str, password: str) -> httpx.Response:
    return http.post(
        f"{base}/api/users/login/token/", data={"username": email, "password": password}
    )


# -- main --------------------------------------------------------------------------------------


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--output", default=str(ROOT / "docs" / "scaleout.md"))
    args = parser.parse_args()
    started = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="phresh-scaleout-") as name:
        folder = Path(name)
        folder.chmod(0o755)  # the lab's PostgreSQL and PgBouncer run as the postgres user
        lab = Lab(folder / "lab", pool_size=4)
        report = Report([])
        try:
            lab.start(4, replica=False)
            lab.instances.append(Instance(free_port()))
            direct = len(lab.instances) - 1
            lab.start_instance(direct, DATABASE_URL=lab.app_url(lab.pg_port), DB_POOLER="none")
            data = seed(lab.instances[0].base)
            section_tiers(lab, data, folder, report)
            lab.stop_instance(direct)  # its own pool would count among the backends below
            measured = section_instances(lab, data, folder, report)
            section_quotas(lab, folder, report, measured)
            section_rolling_restart(lab, data, folder, report)
            section_kill(lab, folder, report)
            section_consistency(lab, report)
        finally:
            lab.stop()
    minutes = (time.monotonic() - started) / 60
    header = [
        "# Scale-out: measured",
        "",
        f"`make scaleout-bench` on {datetime.now(UTC):%Y-%m-%d} ({os.cpu_count()} cores), "
        f"{minutes:.1f} min. The lab (`scripts/lab-scaleout`): PostgreSQL "
        f"{pg_version()}, PgBouncer 1.18 in transaction mode, Phresh instances "
        "(gunicorn, 1 uvicorn worker each, `ENVIRONMENT=production`, `DB_POOLER=pgbouncer`, "
        "the DML-only role), nginx 1.22 with `deploy/nginx.conf`, all on 127.0.0.1. Regenerate "
        "with `make scaleout-bench`.",
        "",
    ]
    Path(args.output).write_text("\n".join(header + report.lines), encoding="utf-8")
    print(f"wrote {args.output} in {minutes:.1f} min")
    return 0


def pg_version() -> str:
    out = subprocess.run(["psql", "--version"], capture_output=True, text=True, check=False).stdout
    return match.group(1) if (match := re.search(r"\) (\d+\.\d+)", out)) else "?"


if __name__ == "__main__":
    sys.exit(main())
