"""The scale-out lab on 127.0.0.1: PostgreSQL, PgBouncer (transaction pooling), N Phresh
instances (gunicorn, production settings, DB_POOLER=pgbouncer), nginx in front, and
optionally a streaming read replica: the topology of docker-compose's `scaleout` profile,
built from this machine's packages and the repo's own deploy/ files.

    scripts/lab-scaleout start N [--replica] [--pool-size K]   prints the edge URL
    scripts/lab-scaleout status
    scripts/lab-scaleout stop                                  stops all, deletes the lab

State (ports, pids, logs, data) lives in LAB_DIR (default /tmp/phresh-lab-scaleout).
`make scaleout-bench` (scripts/bench/scaleout.py) drives the same lab.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_DIR = Path(os.environ.get("LAB_DIR", "/tmp/phresh-lab-scaleout"))  # noqa: S108
DATABASE = "phresh"
APP_ROLE, OWNER_ROLE = "phresh_app", "phresh_owner"
PG_OPTIONS = "-c max_connections=200 -c shared_buffers=128MB"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def run(*command: str, env: dict[str, str] | None = None) -> str:
    done = subprocess.run(
        command,
        cwd=ROOT,
        env={**os.environ, **(env or {})},
        capture_output=True,
        text=True,
        check=False,
    )
    if done.returncode != 0:
        raise RuntimeError(f"{' '.join(command)} failed:\n{done.stdout}{done.stderr}")
    return done.stdout


def as_postgres() -> list[str]:
    """PgBouncer (like initdb) refuses to run as root."""
    return ["runuser", "-u", "postgres", "--"] if os.geteuid() == 0 else []


def alive(pid: int | None) -> bool:
    if not pid:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] != "Z"


@dataclass
class Instance:
    port: int
    pid: int | None = None  # gunicorn master (its own process group)

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.port}"


@dataclass
class Lab:
    folder: Path
    secret_key: str = field(default_factory=lambda: secrets.token_urlsafe(48))
    pg_port: int = 0
    replica_port: int = 0  # 0: no replica
    bouncer_port: int = 0
    nginx_port: int = 0
    pool_size: int = 4
    instances: list[Instance] = field(default_factory=list)
    upstreams: int = 0  # nginx routes to the first `upstreams` instances

    # -- state -----------------------------------------------------------------------------

    @property
    def state_file(self) -> Path:
        return self.folder / "state.json"

    def save(self) -> None:
        state = asdict(self)
        state["folder"] = str(self.folder)
        self.state_file.write_text(json.dumps(state, indent=2))

    @classmethod
    def load(cls, folder: Path) -> Lab:
        state = json.loads((folder / "state.json").read_text())
        state["folder"] = Path(state["folder"])
        state["instances"] = [Instance(**i) for i in state["instances"]]
        return cls(**state)

    @property
    def edge(self) -> str:
        return f"http://127.0.0.1:{self.nginx_port}"

    def admin_url(self, database: str = "postgres", port: int | None = None) -> str:
        return f"postgresql://postgres@127.0.0.1:{port or self.pg_port}/{database}"

    def app_url(self, port: int, role: str = APP_ROLE) -> str:
        return f"postgresql://{role}@127.0.0.1:{port}/{DATABASE}"

    # -- start and stop --------------------------------------------------------------------

    def start(self, count: int, *, replica: bool) -> None:
        self.folder.mkdir(parents=True, exist_ok=True)
        self.folder.chmod(0o755)  # the postgres user runs the clusters and PgBouncer
        self.pg_port, self.bouncer_port, self.nginx_port = free_port(), free_port(), free_port()
        self.save()
        self.start_postgres()
        if replica:
            self.replica_port = free_port()
            run(
                "scripts/pg-cluster",
                "replica",
                self.admin_url(),
                str(self.folder / "replica"),
                str(self.replica_port),
                PG_OPTIONS,  # a hot standby needs max_connections >= the primary's
            )
        self.start_pgbouncer()
        for _ in range(count):
            self.instances.append(Instance(free_port()))
        self.save()
        for index in range(count):
            self.start_instance(index)
        self.start_nginx(count)
        self.save()

    def start_postgres(self) -> None:
        run("scripts/pg-cluster", "start", str(self.folder / "pg"), str(self.pg_port), PG_OPTIONS)
        admin = self.admin_url()
        run(sys.executable, "scripts/dbtool.py", "ensure-db", self.admin_url(DATABASE))
        # Production's least-privilege roles and role timeouts (they hold behind PgBouncer).
        run("scripts/db-roles", "--admin-url", admin, "--database", DATABASE)
        run(
            str(ROOT / ".venv/bin/alembic"),
            "-x",
            f"url={self.app_url(self.pg_port, OWNER_ROLE)}",
            "upgrade",
            "head",
        )

    def start_pgbouncer(self) -> None:
        run_dir = self.folder / "pgbouncer"
        run_dir.mkdir(exist_ok=True)
        (run_dir / "users.txt").write_text(f'"{APP_ROLE}" ""\n"postgres" ""\n')
        config = run(
            "deploy/edge",
            "render",
            "pgbouncer",
            env={
                "DB_HOST": "127.0.0.1",
                "DB_PORT": str(self.pg_port),
                "LISTEN_ADDR": "127.0.0.1",
                "LISTEN_PORT": str(self.bouncer_port),
                "RUN_DIR": str(run_dir),
                "AUTH_TYPE": "trust",
                "POOL_SIZE": str(self.pool_size),
                "QUERY_WAIT_TIMEOUT": "2",
            },
        )
        (run_dir / "pgbouncer.ini").write_text(config)
        if os.geteuid() == 0:
            shutil.chown(run_dir, "postgres")
            for item in run_dir.iterdir():
                shutil.chown(item, "postgres")
        run(*as_postgres(), "pgbouncer", "-d", str(run_dir / "pgbouncer.ini"))
        wait_for_port(self.bouncer_port)

    def instance_env(self, instance: Instance) -> dict[str, str]:
        """deploy/instance.env (what every instance behind nginx and PgBouncer runs with),
        then this host's addresses; one worker per instance, to measure per instance."""
        env = instance_settings()
        env |= {
            "ENVIRONMENT": "production",
            "SECRET_KEY": self.secret_key,
            "DATABASE_URL": self.app_url(self.bouncer_port),
            "HOST": "127.0.0.1",
            "PORT": str(instance.port),
            "WEB_CONCURRENCY": "1",
            "MAX_REQUESTS": "0",  # no recycling in the middle of a measurement
            "TRUSTED_PROXIES": "127.0.0.1",  # nginx, on this host
            "LOG_LEVEL": "WARNING",
            "CORS_ORIGINS": "",
        }
        if self.replica_port:
            env["DATABASE_REPLICA_URL"] = self.app_url(self.replica_port)
        return env

    def start_instance(self, index: int, **extra_env: str) -> None:
        instance = self.instances[index]
        log = (self.folder / f"instance-{index}.log").open("ab")
        environment = {**os.environ, **self.instance_env(instance), **extra_env}
        environment.pop("PROMETHEUS_MULTIPROC_DIR", None)  # one folder per master
        process = subprocess.Popen(
            [sys.executable, "-m", "gunicorn", "backend.main:app", "-c", "gunicorn.conf.py"],
            cwd=ROOT,
            env=environment,
            stdout=subprocess.DEVNULL,
            stderr=log,
            start_new_session=True,  # its own process group: kill -9 takes the workers too
        )
        log.close()
        instance.pid = process.pid
        wait_ready(instance.base, process)
        self.save()

    def stop_instance(self, index: int, *, sig: int = signal.SIGTERM) -> None:
        """SIGTERM: gunicorn drains (stops accepting, finishes in-flight requests, closes
        keep-alive connections after their answer). SIGKILL: the whole process group."""
        instance = self.instances[index]
        if not alive(instance.pid):
            return
        assert instance.pid is not None
        if sig == signal.SIGKILL:
            os.killpg(instance.pid, signal.SIGKILL)
        else:
            os.kill(instance.pid, sig)
        deadline = time.monotonic() + 40
        while alive(instance.pid) and time.monotonic() < deadline:
            reap(instance.pid)
            time.sleep(0.05)
        instance.pid = None
        self.save()

    def start_nginx(self, upstreams: int) -> None:
        run_dir = self.folder / "nginx"
        run_dir.mkdir(exist_ok=True)
        run_dir.chmod(0o777)  # nginx's workers (nobody, when we are root) write temp files
        self.write_nginx_config(upstreams)
        run("nginx", "-c", str(run_dir / "nginx.conf"), "-p", str(run_dir))
        wait_for_port(self.nginx_port)

    def write_nginx_config(self, upstreams: int) -> None:
        run_dir = self.folder / "nginx"
        config = run(
            "deploy/edge",
            "render",
            "nginx",
            env={
                "LISTEN": f"127.0.0.1:{self.nginx_port}",
                "UPSTREAMS": " ".join(f"127.0.0.1:{i.port}" for i in self.instances[:upstreams]),
                "RUN_DIR": str(run_dir),
                "METRICS_FROM": "127.0.0.1",
            },
        )
        (run_dir / "nginx.conf").write_text(config)
        self.upstreams = upstreams
        self.save()

    def route_to(self, upstreams: int) -> None:
        """nginx routes to the first `upstreams` instances (a graceful reload)."""
        self.write_nginx_config(upstreams)
        pid = self.nginx_pid()
        assert pid is not None
        os.kill(pid, signal.SIGHUP)
        time.sleep(0.5)  # new workers up, old ones finishing their requests

    def nginx_pid(self) -> int | None:
        file = self.folder / "nginx" / "nginx.pid"
        return int(file.read_text()) if file.exists() else None

    def bouncer_pid(self) -> int | None:
        file = self.folder / "pgbouncer" / "pgbouncer.pid"
        return int(file.read_text()) if file.exists() else None

    def postmaster_pid(self, replica: bool = False) -> int | None:
        file = self.folder / ("replica" if replica else "pg") / "postmaster.pid"
        return int(file.read_text().split()[0]) if file.exists() else None

    def stop(self) -> None:
        if (pid := self.nginx_pid()) and alive(pid):
            os.kill(pid, signal.SIGQUIT)
        for index in range(len(self.instances)):
            self.stop_instance(index)
        if (pid := self.bouncer_pid()) and alive(pid):
            os.kill(pid, signal.SIGTERM)
        for name in ("replica", "pg"):
            run("scripts/pg-cluster", "stop", str(self.folder / name))
        shutil.rmtree(self.folder, ignore_errors=True)

    def status(self) -> str:
        lines = [f"lab in {self.folder}; edge {self.edge}"]
        lines.append(f"  postgres 127.0.0.1:{self.pg_port} (pid {self.postmaster_pid()})")
        if self.replica_port:
            lines.append(
                f"  replica  127.0.0.1:{self.replica_port} (pid {self.postmaster_pid(True)})"
            )
        lines.append(
            f"  pgbouncer 127.0.0.1:{self.bouncer_port} pool {self.pool_size}"
            f" (pid {self.bouncer_pid()})"
        )
        for index, instance in enumerate(self.instances):
            state = "up" if alive(instance.pid) else "down"
            routed = "routed" if index < self.upstreams else "not routed"
            lines.append(
                f"  instance {index} {instance.base} {state}, {routed} (pid {instance.pid})"
            )
        lines.append(f"  nginx {self.edge} (pid {self.nginx_pid()})")
        return "\n".join(lines)


def instance_settings() -> dict[str, str]:
    settings = {}
    for line in (ROOT / "deploy" / "instance.env").read_text().splitlines():
        if line.strip() and not line.startswith("#"):
            name, _, value = line.partition("=")
            settings[name.strip()] = value.strip()
    return settings


def reap(pid: int) -> None:
    with contextlib.suppress(ChildProcessError):
        os.waitpid(pid, os.WNOHANG)


def wait_for_port(port: int, limit: float = 15) -> None:
    deadline = time.monotonic() + limit
    while time.monotonic() < deadline:
        with socket.socket() as sock:
            if sock.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.05)
    raise RuntimeError(f"nothing listens on 127.0.0.1:{port}")


def wait_ready(base: str, process: subprocess.Popen[bytes], limit: float = 30) -> None:
    deadline = time.monotonic() + limit
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"{base}/health/ready", timeout=1).status_code == 200:
                return
        except httpx.TransportError:
            pass
        if process.poll() is not None:
            raise RuntimeError(f"the instance on {base} exited ({process.returncode}); see its log")
        time.sleep(0.1)
    raise RuntimeError(f"the instance on {base} was not ready within {limit} s")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    commands = parser.add_subparsers(dest="command", required=True)
    start = commands.add_parser("start")
    start.add_argument("instances", type=int, choices=range(1, 9), metavar="N")
    start.add_argument("--replica", action="store_true")
    start.add_argument("--pool-size", type=int, default=4)
    commands.add_parser("stop")
    commands.add_parser("status")
    args = parser.parse_args()
    folder = DEFAULT_DIR
    if args.command == "start":
        if (folder / "state.json").exists():
            print(f"a lab already runs in {folder}: scripts/lab-scaleout stop", file=sys.stderr)
            return 1
        lab = Lab(folder, pool_size=args.pool_size)
        try:
            lab.start(args.instances, replica=args.replica)
        except BaseException:
            lab.stop()
            raise
        print(lab.status())
        return 0
    if not (folder / "state.json").exists():
        print(f"no lab in {folder}", file=sys.stderr)
        return 0 if args.command == "stop" else 1
    lab = Lab.load(folder)
    if args.command == "stop":
        lab.stop()
        print("lab stopped and removed")
    else:
        print(lab.status())
    return 0


if __name__ == "__main__":
    sys.exit(main())
