"""CPU seconds of process trees from /proc, for the benchmarks: a server's master and
workers, PostgreSQL's postmaster and backends (reaped children included)."""

from __future__ import annotations

import os
from pathlib import Path

CLK = os.sysconf("SC_CLK_TCK")


def processes() -> dict[int, tuple[int, float]]:
    """pid -> (parent pid, CPU seconds of the process and of its reaped children)."""
    found: dict[int, tuple[int, float]] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        cpu = sum(int(fields[i]) for i in (11, 12, 13, 14)) / CLK
        found[int(entry.name)] = (int(fields[1]), cpu)
    return found


def tree(root: int, table: dict[int, tuple[int, float]]) -> list[int]:
    """`root` and every live descendant."""
    children: dict[int, list[int]] = {}
    for pid, (parent, _) in table.items():
        children.setdefault(parent, []).append(pid)
    pids, stack = [], [root]
    while stack:
        pid = stack.pop()
        if pid in table:
            pids.append(pid)
            stack.extend(children.get(pid, []))
    return pids


def tree_cpu(roots: list[int], table: dict[int, tuple[int, float]] | None = None) -> float:
    """CPU seconds so far of the trees under `roots`."""
    table = processes() if table is None else table
    return sum(table[pid][1] for root in roots for pid in tree(root, table))
