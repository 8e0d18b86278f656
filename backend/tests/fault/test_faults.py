"""Fault scenarios against gunicorn (2 workers) under 32 keep-alive clients; PostgreSQL in
its own network namespace. After each: no 500 (answers and server log), every body JSON,
master alive, no session idle in a transaction, the pool whole, every acknowledged 201
kept. Each prints one line with its figures (`make fault`)."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import threading
from collections.abc import Callable, Coroutine, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import asyncpg
import pytest

from backend.tests.fault.conftest import (
    REQUEST_TIMEOUT,
    SERVER_ENV,
    Lab,
    Service,
    later,
    report,
    service,
)
from backend.tests.fault.lab import Recording, check_invariants, load, sql
from backend.tests.support import TCPProxy

pytestmark = pytest.mark.fault
FILL_THE_DISK = (
    "INSERT INTO filler SELECT repeat(md5(g::text), 40) FROM generate_series(1, 2000) AS g"
)
BOUND = REQUEST_TIMEOUT + 0.5  # no answer later than the deadline plus this margin


def scenario(body: Callable[[], Coroutine[Any, Any, str]]) -> str:
    return asyncio.run(body())


def answered_within_the_deadline(recording: Recording) -> float:
    """The slowest answer, which must not come later than the deadline plus the margin."""
    slowest = max(o.seconds for o in recording.answered())
    assert slowest <= BOUND, slowest
    return slowest


def outage_figures(recording: Recording, start: str, end: str) -> tuple[float, float | None]:
    """(p99 of the answers to requests sent while down, first 2xx after `end`)."""
    during = sorted(
        o.seconds
        for o in recording.answered()
        if recording.marks[start] <= o.started < recording.marks[end]
    ) or [0.0]
    return during[min(len(during) - 1, int(len(during) * 0.99))], recording.first_success_after(end)


def workers_of(master: int) -> list[int]:
    found = subprocess.run(  # noqa: S603
        ["pgrep", "-P", str(master)],  # noqa: S607
        capture_output=True,
        text=True,
        check=False,
    )
    return [int(pid) for pid in found.stdout.split()]


@pytest.mark.parametrize("how", ["stop", "kill", "restart"])
def test_postgres_stopped_killed_or_restarted_under_load(
    lab: Lab, running: Service, how: str
) -> None:
    pg = lab.pg

    async def body() -> str:
        recording = Recording()

        async def fault() -> None:
            await asyncio.sleep(1.5)
            recording.mark("down")
            if how == "restart":
                await asyncio.to_thread(pg.restart)
            else:
                await asyncio.to_thread(pg.kill_postmaster if how == "kill" else pg.stop)
                await asyncio.sleep(2)
                await asyncio.to_thread(pg.start)
            recording.mark("up")

        await asyncio.gather(
            load(running.server.port, running.traffic, recording, seconds=8), fault()
        )
        p99, first = outage_figures(recording, "down", "up")
        assert p99 <= 1.0, p99
        assert first is not None
        assert first <= 5.0, first
        line = await check_invariants(running.server, lab.admin_url, recording, running.log)
        return f"outage p99 {p99:.3f}s, first 2xx {first:.2f}s after; {line}"

    report(f"postgres {how}", scenario(body))


@pytest.mark.parametrize("fault", ["partition", "lossy"])
def test_a_silent_partition_or_a_lossy_link_never_overruns_the_deadline(
    lab: Lab, running: Service, fault: str
) -> None:
    pg = lab.pg

    async def body() -> str:
        recording = Recording()
        action = pg.partition if fault == "partition" else (lambda: pg.lossy(0.3))
        cut, heal = later(1.5, action), later(1.5 + REQUEST_TIMEOUT + 1.5, pg.heal)
        try:
            await load(running.server.port, running.traffic, recording, seconds=10)
        finally:
            await asyncio.gather(cut, heal)
            pg.heal()
        slowest = answered_within_the_deadline(recording)
        line = await check_invariants(running.server, lab.admin_url, recording, running.log)
        return f"slowest answer {slowest:.2f}s (bound {BOUND}s); {line}"

    report(f"link: {fault}", scenario(body))


@contextmanager
def slow_proxy(host: str, port: int, delay: float) -> Iterator[int]:
    """A TCP proxy that holds every chunk `delay` seconds, on its own thread and loop."""
    loop = asyncio.new_event_loop()
    proxy = TCPProxy(host, port, delay=delay)
    loop.run_until_complete(proxy.start())
    thread = threading.Thread(target=loop.run_forever, daemon=True)
    thread.start()
    try:
        yield proxy.port
    finally:
        asyncio.run_coroutine_threadsafe(proxy.stop(), loop).result(10)
        loop.call_soon_threadsafe(loop.stop)
        thread.join(10)
        loop.close()


def test_a_slow_link_is_slower_never_wrong(lab: Lab, tmp_path: Path) -> None:
    with slow_proxy(lab.pg.inner, 5432, delay=0.02) as port:
        url = lab.app_url.replace(f"{lab.pg.inner}:5432", f"127.0.0.1:{port}")
        with service(lab, tmp_path, database_url=url) as slow:

            async def body() -> str:
                recording = Recording()
                await load(slow.server.port, slow.traffic, recording, seconds=5)
                slowest = answered_within_the_deadline(recording)
                line = await check_invariants(slow.server, lab.admin_url, recording, slow.log)
                return f"20 ms each way per chunk, slowest {slowest:.2f}s; {line}"

            report("link: slow (20 ms proxy)", scenario(body))


def test_a_locked_table_gives_503_within_the_deadline(lab: Lab, running: Service) -> None:
    async def body() -> str:
        recording = Recording()

        async def hold_lock() -> None:
            await asyncio.sleep(1.5)
            connection = await asyncpg.connect(lab.admin_url)
            try:
                async with connection.transaction():
                    await connection.execute("LOCK TABLE cleanings IN ACCESS EXCLUSIVE MODE")
                    recording.mark("locked")
                    await asyncio.sleep(4)
            finally:
                await connection.close()

        await asyncio.gather(
            load(running.server.port, running.traffic, recording, seconds=8), hold_lock()
        )
        slowest = answered_within_the_deadline(recording)
        lock_timeout = int(SERVER_ENV["DB_LOCK_TIMEOUT_MS"]) / 1000
        assert slowest <= lock_timeout + 0.5, slowest  # pool and lock waits do not add up
        line = await check_invariants(running.server, lab.admin_url, recording, running.log)
        return f"4 s lock, lock_timeout 1 s, slowest {slowest:.2f}s; {line}"

    report("locked table", scenario(body))


def test_pool_exhaustion_is_503_within_the_deadline(lab: Lab, tmp_path: Path) -> None:
    with service(lab, tmp_path, DB_POOL_MAX_SIZE="2") as small:

        async def body() -> str:
            recording = Recording()
            await load(small.server.port, small.traffic, recording, clients=64, seconds=5)
            slowest = answered_within_the_deadline(recording)
            line = await check_invariants(small.server, lab.admin_url, recording, small.log)
            return f"pool 2 per worker, 64 clients, slowest {slowest:.2f}s; {line}"

        report("pool exhaustion", scenario(body))


def test_a_cancellation_storm_leaves_nothing_behind(lab: Lab, running: Service) -> None:
    async def body() -> str:
        storm, steady = Recording(), Recording()
        port = running.server.port
        await asyncio.gather(
            load(port, running.traffic, storm, clients=32, seconds=5, abandon=0.7),
            load(port, running.traffic, steady, clients=8, seconds=5),
        )
        abandoned = sum(1 for o in storm.outcomes if o.error == "connect")
        line = await check_invariants(running.server, lab.admin_url, steady, running.log)
        return f"{abandoned} requests abandoned mid-flight; steady clients: {line}"

    report("cancellation storm", scenario(body))


def test_sigterm_under_load_fails_no_accepted_request(lab: Lab, running: Service) -> None:
    """Every request sent on a connection the server had accepted before the SIGTERM gets
    its answer. A connection the kernel completes after it sits in the listen queue of a
    socket about to close, and is reset: that is "not accepted" (a load balancer takes the
    instance out of rotation first, by its readiness checks)."""

    def terminate() -> None:
        recording.mark("sigterm")
        master.send_signal(signal.SIGTERM)

    recording = Recording()
    master = running.server.process

    async def body() -> str:
        stop = later(1.5, terminate)
        await load(running.server.port, running.traffic, recording, seconds=5)
        await stop
        exit_code = await asyncio.to_thread(master.wait, 30)
        assert exit_code == 0
        at = recording.marks["sigterm"]
        failed = [o for o in recording.failed() if o.connected < at]
        assert not failed, [(o.request.method, o.error) for o in failed[:5]]
        at_the_door = len(recording.failed())
        answered = recording.answered()
        assert all(o.is_json for o in answered)
        assert not [o for o in answered if o.status == 500]
        ids = recording.created_ids()
        kept = await sql(
            lab.admin_url, "SELECT count(*) FROM cleanings WHERE id = ANY($1::int[])", ids
        )
        assert kept == len(ids)
        refused = sum(1 for o in recording.outcomes if o.error == "connect")
        return (
            f"{len(answered)} answered, 0 failed among accepted; after the stop "
            f"{refused} connects refused, {at_the_door} reset in the listen queue; exit 0; "
            f"{len(ids)} acknowledged 201s all present"
        )

    report("SIGTERM", scenario(body))


def test_sighup_reloads_without_failing_a_request(lab: Lab, running: Service) -> None:
    async def body() -> str:
        recording = Recording()
        master = running.server.process
        before = workers_of(master.pid)
        reloads = [later(delay, lambda: master.send_signal(signal.SIGHUP)) for delay in (1.5, 4.5)]
        await load(running.server.port, running.traffic, recording, seconds=8)
        await asyncio.gather(*reloads)
        after = workers_of(master.pid)
        assert not set(before) & set(after), (before, after)
        line = await check_invariants(running.server, lab.admin_url, recording, running.log)
        return f"2 reloads, workers {before} -> {after}; {line}"

    report("SIGHUP (2 reloads)", scenario(body))


def test_max_requests_recycling_fails_no_request(lab: Lab, tmp_path: Path) -> None:
    with service(lab, tmp_path, MAX_REQUESTS="300", MAX_REQUESTS_JITTER="100") as recycled:

        async def body() -> str:
            recording = Recording()
            seen: set[int] = set()

            async def watch_workers() -> None:
                while not done.is_set():
                    seen.update(workers_of(recycled.server.process.pid))
                    await asyncio.sleep(0.1)

            done = asyncio.Event()
            watcher = asyncio.ensure_future(watch_workers())
            await load(recycled.server.port, recycled.traffic, recording, seconds=6)
            done.set()
            await watcher
            restarts = len(seen) - 2
            assert restarts >= 2, seen
            line = await check_invariants(recycled.server, lab.admin_url, recording, recycled.log)
            return f"{restarts} worker recycles (max_requests 300 + up to 100); {line}"

        report("max_requests recycling", scenario(body))


@pytest.mark.parametrize("postgres_down", [False, True])
def test_a_worker_killed_is_replaced(lab: Lab, running: Service, postgres_down: bool) -> None:
    pg = lab.pg

    async def body() -> str:
        recording = Recording()
        master = running.server.process
        victim = workers_of(master.pid)[0]

        async def fault() -> None:
            await asyncio.sleep(1.5)
            if postgres_down:
                await asyncio.to_thread(pg.stop)
            os.kill(victim, signal.SIGKILL)
            recording.mark("killed")
            await asyncio.sleep(2)
            if postgres_down:
                await asyncio.to_thread(pg.start)
            recording.mark("up")

        await asyncio.gather(
            load(running.server.port, running.traffic, recording, seconds=7), fault()
        )
        workers = workers_of(master.pid)
        assert victim not in workers
        assert len(workers) == 2
        line = await check_invariants(
            running.server, lab.admin_url, recording, running.log, allow_failed=True
        )
        lost = len(recording.failed())
        return f"{lost} in flight on the killed worker lost (a reset), replaced; {line}"

    name = "kill -9 worker" + (" (postgres down)" if postgres_down else "")
    report(name, scenario(body))


async def fill_the_disk(admin: str) -> None:
    """Commit rows into `filler` until PostgreSQL answers 53100 (disk full)."""
    for _ in range(10_000):
        await sql(admin, FILL_THE_DISK)


def test_disk_full_is_503_for_writes_and_reads_go_on(lab: Lab, running: Service) -> None:
    pg, admin = lab.pg, lab.admin_url

    async def body() -> str:
        space = pg.mount_tmpfs("24m")
        await sql(admin, f"CREATE TABLESPACE full_disk LOCATION '{space}'")
        # Compact first: the free space earlier scenarios' rolled-back inserts left in its
        # pages would take this scenario's inserts without the table growing.
        await sql(admin, "VACUUM FULL cleanings")
        await sql(admin, "ALTER TABLE cleanings SET TABLESPACE full_disk")
        # Committed rows (autovacuum off): nothing can give the space back during the run.
        await sql(
            admin,
            "CREATE TABLE filler (x text) WITH (autovacuum_enabled = false) TABLESPACE full_disk",
        )
        try:
            with pytest.raises(asyncpg.DiskFullError):
                await fill_the_disk(admin)
            recording = Recording()
            await load(running.server.port, running.traffic, recording, seconds=4)
        finally:
            await sql(admin, "DROP TABLE filler")
            await sql(admin, "ALTER TABLE cleanings SET TABLESPACE pg_default")
            await sql(admin, "DROP TABLESPACE full_disk")
            pg.unmount_tmpfs()
        writes = [o for o in recording.answered() if o.request.method == "POST"]
        reads = [o for o in recording.answered() if o.request.method == "GET"]
        refused = sum(1 for o in writes if o.status == 503)
        assert refused > 0, [o.status for o in writes][:10]
        assert all(o.status == 200 for o in reads)
        line = await check_invariants(running.server, admin, recording, running.log)
        return f"{refused}/{len(writes)} writes 503, reads all 200; {line}"

    report("disk full", scenario(body))


def test_read_only_database_is_503_for_writes(lab: Lab, running: Service) -> None:
    admin = lab.admin_url

    async def body() -> str:
        await sql(admin, "ALTER SYSTEM SET default_transaction_read_only = on")
        await sql(admin, "SELECT pg_reload_conf()")
        await asyncio.sleep(0.5)
        try:
            recording = Recording()
            await load(running.server.port, running.traffic, recording, seconds=3)
        finally:
            await sql(admin, "ALTER SYSTEM RESET default_transaction_read_only")
            await sql(admin, "SELECT pg_reload_conf()")
        writes = [o for o in recording.answered() if o.request.method == "POST"]
        assert writes
        assert all(o.status == 503 for o in writes)
        line = await check_invariants(running.server, admin, recording, running.log)
        return f"{len(writes)} writes all 503, reads served; {line}"

    report("read-only", scenario(body))


def test_max_connections_exhausted_is_503(lab: Lab, running: Service) -> None:
    owner = lab.admin_url.replace("postgres@", "fault_owner@")

    async def body() -> str:
        held: list[asyncpg.Connection] = []
        try:
            while True:
                try:
                    held.append(await asyncpg.connect(owner, timeout=5))
                except asyncpg.TooManyConnectionsError:
                    break
            recording = Recording()
            await load(running.server.port, running.traffic, recording, seconds=3)
        finally:
            await asyncio.gather(*(connection.close() for connection in held))
        statuses = {o.status for o in recording.answered()}
        line = await check_invariants(running.server, lab.admin_url, recording, running.log)
        return f"{len(held)} slots held; answers {sorted(s for s in statuses if s)}; {line}"

    report("max_connections exhausted", scenario(body))
