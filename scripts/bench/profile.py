"""`make profile`: where one Phresh worker spends its time under one bench scenario.

Serves Phresh as `make bench` does (gunicorn, 2 workers, the 10k bench database), loads it
with wrk (`-t1 -c64`) and samples one worker with py-spy (`--native`, 200 Hz), then prints
the share of the worker's event-loop thread in each layer a request crosses and the
hottest leaf frames. Idle thread-pool threads (Argon2's) are left out. Bounded: one wrk run
of `--seconds` + 4 s. Needs root (py-spy attaches with ptrace) and the bench venv.
"""

from __future__ import annotations

import argparse
import asyncio
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from scripts.bench.run import (  # noqa: E402
    SCENARIOS,
    find_fixture,
    login_token,
    lua_script,
    phresh,
    prepare_database,
)

# What each layer is called in the samples (inclusive shares): a frame name, or several.
LAYERS: tuple[tuple[str, str | tuple[str, ...]], ...] = (
    ("request context middleware", "RequestContextMiddleware.__call__"),
    ("limits middleware", "LimitsMiddleware.__call__"),
    ("router (match, call, send)", "Router.__call__"),
    ("operation (auth, parse, handler)", "_endpoint.<locals>.endpoint"),
    ("  authentication: the token", "authenticate"),
    ("    token check", "Tokens.read_access"),
    ("  authentication: the check on its own", "ReadGuard.settle"),
    ("  pydantic validate", "BaseModel.model_validate"),
    ("  pydantic dump", "BaseModel.model_dump_json"),
    ("Database wrapper (all statements)", "Database._run"),
    ("  pool acquire + release", ("Database._acquire", "Database._release")),
    ("  asyncpg statement", "Connection._execute"),
    ("  per-query metrics", "Metrics.observe_query"),
    ("sending the response", "Response.__call__"),
    ("socket writes (kernel)", "write"),
    ("garbage collector", "gc_collect_main"),
)


def samples(raw: Path) -> list[tuple[list[str], int]]:
    """py-spy's raw (collapsed) output, the event-loop thread only."""
    found = []
    for line in raw.read_text().splitlines():
        stack, _, count = line.rpartition(" ")
        if not stack:
            continue
        frames = [frame.split(" (")[0] for frame in stack.split(";")]
        if "Thread._bootstrap" in frames:  # a thread-pool thread, idle or hashing
            continue
        found.append((frames, int(count)))
    return found


def summary(found: list[tuple[list[str], int]]) -> str:
    total = sum(count for _, count in found) or 1
    inclusive: Counter[str] = Counter()
    leaves: Counter[str] = Counter()
    for frames, count in found:
        present = set(frames)
        for label, names in LAYERS:
            if present.intersection((names,) if isinstance(names, str) else names):
                inclusive[label] += count
        leaves[frames[-1]] += count
    lines = [f"{total} samples of the worker's event-loop thread", "", "layer share:"]
    lines += [f"  {100 * inclusive[label] / total:5.1f} %  {label}" for label, _ in LAYERS]
    lines += ["", "hottest leaf frames:"]
    lines += [f"  {100 * n / total:5.1f} %  {name}" for name, n in leaves.most_common(15)]
    return "\n".join(lines)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--database-url", required=True, help="server for the bench database")
    parser.add_argument("--scenario", default="get_cleaning", choices=SCENARIOS)
    parser.add_argument("--seconds", type=int, default=10)
    args = parser.parse_args()
    url = prepare_database(args.database_url, "10k")
    fixture = asyncio.run(find_fixture(url))
    with tempfile.TemporaryDirectory() as tmp, phresh(url) as server:
        workdir = Path(tmp)
        token = login_token(server.base, fixture.owner_email)
        path, script = lua_script(args.scenario, token, fixture, workdir)
        load = subprocess.Popen(
            ["wrk", "-t1", "-c64", f"-d{args.seconds + 4}s", "-s", str(script), server.base + path],
            stdout=subprocess.PIPE,
            text=True,
        )
        time.sleep(2)  # past the warm-up
        raw = workdir / "profile.raw"
        subprocess.run(
            [
                str(Path(sys.executable).with_name("py-spy")),
                "record",
                "--native",
                "--rate",
                "200",
                "--duration",
                str(args.seconds),
                "--format",
                "raw",
                "--output",
                str(raw),
                "--pid",
                str(server.worker_pids()[0]),
            ],
            check=True,
            capture_output=True,
            timeout=args.seconds + 60,
        )
        out, _ = load.communicate(timeout=args.seconds + 60)
        rate = next((line for line in out.splitlines() if "Requests/sec" in line), "?")
        print(f"{args.scenario}: {rate.strip()} (under the profiler)")
        print(summary(samples(raw)))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
