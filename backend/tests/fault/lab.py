"""The fault lab: PostgreSQL in its own network namespace (so iptables can cut, or thin, the
link without touching anything else), a bounded load client that records every request,
and the checks every scenario ends with. Root only (netns, iptables, tmpfs mounts)."""

from __future__ import annotations

import asyncio
import json
import os
import random
import shutil
import signal
import statistics
import subprocess
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import asyncpg

from backend.tests.conftest import run_migrations
from backend.tests.servers import ROOT, Gunicorn

PG_PORT = 5432


def run(*command: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    return subprocess.run(command, check=check, capture_output=True, text=True, timeout=60)  # noqa: S603


def pg_bindir() -> Path:
    found = shutil.which("pg_config")
    if found:
        bindir = Path(run(found, "--bindir").stdout.strip())
        if (bindir / "initdb").exists():
            return bindir
    return sorted(Path("/usr/lib/postgresql").glob("*/bin"))[-1]


def missing_prerequisites() -> str | None:
    """Why this machine cannot run the lab, or None."""
    if os.geteuid() != 0:
        return "not root (network namespaces, iptables and tmpfs mounts need root)"
    for tool in ("ip", "iptables", "faketime", "runuser"):
        if shutil.which(tool) is None:
            return f"{tool} is missing (apt-get install iproute2 iptables faketime)"
    probe = f"phresh-probe-{os.getpid()}"
    if run("ip", "netns", "add", probe, check=False).returncode != 0:
        return "network namespaces are not available here (ip netns add failed)"
    run("ip", "netns", "del", probe, check=False)
    if run("iptables", "-L", "OUTPUT", "-n", check=False).returncode != 0:
        return "iptables does not work here (iptables -L failed)"
    return None


class NetnsPostgres:
    """A PostgreSQL cluster (fsync on) listening only inside its own network namespace,
    reached from here over a veth pair."""

    def __init__(self) -> None:
        n = os.getpid() % 200 + 10
        self.namespace = f"phresh-fault-{os.getpid()}"
        self.outer_if, self.inner_if = f"phf{n}a", f"phf{n}b"
        self.outer, self.inner = f"10.231.{n}.1", f"10.231.{n}.2"
        self.folder = Path(tempfile.mkdtemp(prefix="phresh-fault-lab-"))
        self.folder.chmod(0o755)
        self.data = self.folder / "data"
        self.bin = pg_bindir()
        self._rules: list[list[str]] = []
        self.tmpfs: Path | None = None

    def url(self, role: str = "postgres", database: str = "postgres") -> str:
        return f"postgresql://{role}@{self.inner}:{PG_PORT}/{database}?sslmode=disable"

    def as_postgres(self, *command: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        return run("ip", "netns", "exec", self.namespace, "runuser", "-u", "postgres", "--",
                   *command, check=check)  # fmt: skip

    def create(self) -> None:
        ns = self.namespace
        run("ip", "netns", "add", ns)
        run("ip", "link", "add", self.outer_if, "type", "veth", "peer", "name", self.inner_if)
        run("ip", "link", "set", self.inner_if, "netns", ns)
        run("ip", "addr", "add", f"{self.outer}/30", "dev", self.outer_if)
        run("ip", "link", "set", self.outer_if, "up")
        run(
            "ip", "netns", "exec", ns, "ip", "addr", "add", f"{self.inner}/30", "dev", self.inner_if
        )
        run("ip", "netns", "exec", ns, "ip", "link", "set", self.inner_if, "up")
        run("ip", "netns", "exec", ns, "ip", "link", "set", "lo", "up")
        self.data.mkdir()
        shutil.chown(self.data, "postgres")
        self.data.chmod(0o700)
        self.as_postgres(str(self.bin / "initdb"), "-D", str(self.data), "-U", "postgres",
                         "--auth=trust", "--encoding=UTF8", "--locale=C.UTF-8")  # fmt: skip
        with (self.data / "pg_hba.conf").open("a") as hba:
            hba.write(f"host all all {self.outer}/32 trust\n")
        self.start()

    def start(self) -> None:
        options = (
            f"-c listen_addresses={self.inner} -p {PG_PORT} -k {self.data} -c fsync=on"
            " -c max_connections=60 -c superuser_reserved_connections=3"
        )
        log = str(self.data / "server.log")
        pg_ctl = str(self.bin / "pg_ctl")
        self.as_postgres(
            pg_ctl, "-D", str(self.data), "-l", log, "-w", "-t", "60", "start", "-o", options
        )

    def stop(self, mode: str = "fast") -> None:
        self.as_postgres(str(self.bin / "pg_ctl"), "-D", str(self.data), "-m", mode, "-w",
                         "stop", check=False)  # fmt: skip

    def postmaster_pid(self) -> int:
        return int((self.data / "postmaster.pid").read_text().split()[0])

    def restart(self) -> None:
        self.stop("fast")
        self.start()

    def kill_postmaster(self) -> None:
        """A postmaster crash: SIGKILL; its backends notice and exit; the next start
        runs crash recovery."""
        os.kill(self.postmaster_pid(), signal.SIGKILL)
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            if run("pgrep", "-u", "postgres", "-f", f"postgres: .*{self.data.name}",
                   check=False).returncode != 0:  # fmt: skip
                break
            time.sleep(0.1)
        time.sleep(0.5)  # the orphaned backends leave

    def _iptables(self, *rule: str) -> None:
        run("iptables", "-I", "OUTPUT", "-d", self.inner, *rule, "-j", "DROP")
        self._rules.append(list(rule))

    def partition(self) -> None:
        """Silent: every packet to PostgreSQL is dropped, nothing is refused or reset."""
        self._iptables()

    def lossy(self, probability: float) -> None:
        self._iptables("-m", "statistic", "--mode", "random", "--probability", str(probability))

    def heal(self) -> None:
        for rule in self._rules:
            run("iptables", "-D", "OUTPUT", "-d", self.inner, *rule, "-j", "DROP", check=False)
        self._rules.clear()

    def mount_tmpfs(self, size: str) -> Path:
        self.tmpfs = self.folder / "tmpfs"
        self.tmpfs.mkdir(exist_ok=True)
        owner = (
            run("id", "-u", "postgres").stdout.strip(),
            run("id", "-g", "postgres").stdout.strip(),
        )
        options = f"size={size},uid={owner[0]},gid={owner[1]},mode=700"
        # In PostgreSQL's own mount namespace (`ip netns exec` gave it one at its start).
        run("nsenter", "--target", str(self.postmaster_pid()), "--mount", "mount", "-t", "tmpfs",
            "-o", options, "tmpfs", str(self.tmpfs))  # fmt: skip
        return self.tmpfs

    def unmount_tmpfs(self) -> None:
        if self.tmpfs is not None:
            run("nsenter", "--target", str(self.postmaster_pid()), "--mount", "umount",
                str(self.tmpfs), check=False)  # fmt: skip
            self.tmpfs = None

    def destroy(self) -> None:
        self.heal()
        self.stop("immediate")
        run("ip", "netns", "del", self.namespace, check=False)  # the tmpfs goes with its namespace
        shutil.rmtree(self.folder, ignore_errors=True)


async def sql(url: str, statement: str, *args: object) -> object:
    connection = await asyncpg.connect(url, timeout=5)
    try:
        return await connection.fetchval(statement, *args)
    finally:
        await connection.close()


def create_database(pg: NetnsPostgres) -> tuple[str, str]:
    """A database with least-privilege roles, migrated as the owner; (admin, app) URLs."""
    asyncio.run(sql(pg.url(), "CREATE DATABASE phresh_fault"))
    roles = run(
        str(ROOT / "scripts" / "db-roles"), "--admin-url", pg.url(), "--owner", "fault_owner",
        "--app", "fault_app", "--database", "phresh_fault", check=False,
    )  # fmt: skip
    assert roles.returncode == 0, roles.stderr
    run_migrations(pg.url("fault_owner", "phresh_fault"))
    return pg.url("postgres", "phresh_fault"), pg.url("fault_app", "phresh_fault")


# -- the load client ---------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Request:
    method: str
    path: str
    body: object = None  # JSON
    token: str | None = None


@dataclass(slots=True)
class Outcome:
    request: Request
    started: float
    ended: float = 0.0
    status: int | None = None  # None: no answer
    is_json: bool = False
    error: str | None = None  # "connect": never accepted; anything else: a failed request
    body: object = None
    connected: float = 0.0  # when the connection it was sent on was opened

    @property
    def seconds(self) -> float:
        return self.ended - self.started


@dataclass
class Recording:
    outcomes: list[Outcome] = field(default_factory=list)
    marks: dict[str, float] = field(default_factory=dict)

    def mark(self, name: str) -> None:
        self.marks[name] = time.monotonic()

    def answered(self) -> list[Outcome]:
        return [o for o in self.outcomes if o.status is not None]

    def failed(self) -> list[Outcome]:
        """Requests that were sent and got no answer (a reset, a close, a timeout)."""
        return [o for o in self.outcomes if o.status is None and o.error != "connect"]

    def created_ids(self) -> list[int]:
        return [
            o.body["id"]
            for o in self.outcomes
            if o.status == 201 and isinstance(o.body, dict) and isinstance(o.body.get("id"), int)
        ]

    def first_success_after(self, mark: str) -> float | None:
        at = self.marks[mark]
        later = [
            o.ended - at for o in self.outcomes if o.started >= at and o.status in range(200, 300)
        ]
        return min(later) if later else None

    def summary(self) -> str:
        answered = self.answered()
        seconds = sorted(o.seconds for o in answered) or [0.0]
        statuses: dict[int, int] = {}
        for outcome in answered:
            statuses[outcome.status or 0] = statuses.get(outcome.status or 0, 0) + 1
        p99 = seconds[min(len(seconds) - 1, int(len(seconds) * 0.99))]
        codes = " ".join(f"{code}:{count}" for code, count in sorted(statuses.items()))
        return (
            f"{len(self.outcomes)} req, {codes}, failed {len(self.failed())}, "
            f"p50 {statistics.median(seconds):.3f}s p99 {p99:.3f}s max {seconds[-1]:.3f}s"
        )


async def _read_response(reader: asyncio.StreamReader) -> tuple[int, dict[str, str], bytes]:
    head = await reader.readuntil(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    status = int(lines[0].split()[1])
    headers = {}
    for line in lines[1:]:
        if ":" in line:
            name, value = line.split(":", 1)
            headers[name.strip().lower()] = value.strip()
    body = await reader.readexactly(int(headers.get("content-length", "0")))
    return status, headers, body


def _encode(request: Request, port: int, *, close: bool) -> bytes:
    body = b"" if request.body is None else json.dumps(request.body).encode()
    lines = [f"{request.method} {request.path} HTTP/1.1", f"Host: 127.0.0.1:{port}"]
    if request.token:
        lines.append(f"Authorization: Bearer {request.token}")
    if request.body is not None:
        lines.append("Content-Type: application/json")
    lines.append(f"Content-Length: {len(body)}")
    if close:
        lines.append("Connection: close")
    return ("\r\n".join(lines) + "\r\n\r\n").encode() + body


async def _client(  # noqa: PLR0917 (one call site, in `load`)
    port: int,
    next_request: Callable[[], Request],
    recording: Recording,
    stop_at: float,
    budget: list[int],
    answer_timeout: float,
    abandon: float,
) -> None:
    """One keep-alive client, as strict as a client that may not retry: every request it
    wrote must get a whole answer. `abandon`: chance of hanging up mid-request instead."""
    reader: asyncio.StreamReader | None = None
    writer: asyncio.StreamWriter | None = None
    connected = 0.0
    while time.monotonic() < stop_at and budget[0] > 0:
        budget[0] -= 1
        request = next_request()
        outcome = Outcome(request, time.monotonic())
        recording.outcomes.append(outcome)
        hang_up = random.random() < abandon
        try:
            if writer is None:
                try:
                    reader, writer = await asyncio.wait_for(
                        asyncio.open_connection("127.0.0.1", port), 2
                    )
                except (OSError, TimeoutError):
                    outcome.error, outcome.ended = "connect", time.monotonic()
                    await asyncio.sleep(0.05)
                    continue
                connected = time.monotonic()
            outcome.connected = connected
            assert reader is not None
            assert writer is not None
            writer.write(_encode(request, port, close=hang_up))
            await writer.drain()
            if hang_up:
                await asyncio.sleep(random.uniform(0, 0.05))
                writer.transport.abort()
                writer = None
                outcome.error, outcome.ended = "connect", time.monotonic()  # ours, not theirs
                continue
            status, headers, body = await asyncio.wait_for(_read_response(reader), answer_timeout)
            outcome.ended, outcome.status = time.monotonic(), status
            try:
                outcome.body, outcome.is_json = json.loads(body), True
            except ValueError:
                outcome.is_json = False
            if headers.get("connection", "").lower() == "close":
                writer.close()
                writer = None
        except (OSError, asyncio.IncompleteReadError, TimeoutError, ValueError) as error:
            outcome.ended, outcome.error = time.monotonic(), type(error).__name__
            if writer is not None:
                writer.transport.abort()
            writer = None
    if writer is not None:
        writer.transport.abort()


async def load(
    port: int,
    next_request: Callable[[], Request],
    recording: Recording,
    *,
    clients: int = 32,
    seconds: float,
    max_requests: int = 200_000,
    answer_timeout: float = 30.0,
    abandon: float = 0.0,
) -> None:
    """`clients` concurrent keep-alive clients for at most `seconds` and `max_requests`."""
    stop_at, budget = time.monotonic() + seconds, [max_requests]
    await asyncio.gather(
        *(
            _client(port, next_request, recording, stop_at, budget, answer_timeout, abandon)
            for _ in range(clients)
        )
    )


# -- what every scenario ends with ---------------------------------------------------------

_IDLE_IN_TRANSACTION = (
    "SELECT count(*) FROM pg_stat_activity"
    " WHERE state LIKE 'idle in transaction%' AND application_name = 'phresh'"
)
_SERVER_ERRORS = ("unhandled error", "Traceback", "Exception in ASGI application")


async def check_invariants(
    server: Gunicorn, admin_url: str, recording: Recording, log: Path, *, allow_failed: bool = False
) -> str:
    """No 500 (answers and log), every body JSON, master alive, no session left idle in a
    transaction, the pool whole (the service answers again), every acknowledged write kept."""
    answered = recording.answered()
    assert not [
        o for o in answered if o.status is not None and o.status >= 500 and o.status != 503
    ], sorted({o.status or 0 for o in answered})
    assert all(o.is_json for o in answered), "a body that is not JSON"
    if not allow_failed:
        failed = recording.failed()
        assert not failed, (
            f"{len(failed)} failed: {[(o.request.method, o.error) for o in failed[:5]]}"
        )
    assert server.process.poll() is None, "the gunicorn master died"
    text = await asyncio.to_thread(log.read_text, errors="replace")
    assert not [marker for marker in _SERVER_ERRORS if marker in text], text[-3000:]
    deadline = time.monotonic() + 15
    while True:  # the service answers again, from every worker's pool
        try:
            ready = [await _get_status(server.port, "/health/ready") for _ in range(8)]
        except OSError:
            ready = []
        if ready and all(status == 200 for status in ready):
            break
        assert time.monotonic() < deadline, f"not ready again: {ready}"
        await asyncio.sleep(0.2)
    # A session the app dropped during a partition ends once PostgreSQL hears of it (the
    # retransmitted FIN after the heal, or idle_in_transaction_session_timeout).
    deadline = time.monotonic() + 15
    while idle_in_transaction := await sql(admin_url, _IDLE_IN_TRANSACTION):
        assert time.monotonic() < deadline, f"{idle_in_transaction} sessions idle in transaction"
        await asyncio.sleep(0.2)
    ids = recording.created_ids()
    kept = await sql(admin_url, "SELECT count(*) FROM cleanings WHERE id = ANY($1::int[])", ids)
    assert kept == len(ids), f"{len(ids) - int(kept)} acknowledged rows missing"  # type: ignore[call-overload]
    return f"{recording.summary()}; {len(ids)} acknowledged 201s all present"


async def _get_status(port: int, path: str) -> int:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        writer.write(_encode(Request("GET", path), port, close=True))
        await writer.drain()
        status, _, _ = await asyncio.wait_for(_read_response(reader), 10)
        return status
    finally:
        writer.close()
