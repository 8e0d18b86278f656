#!/usr/bin/env python3
"""Lint every migration with squawk, on the SQL Alembic would run (`alembic upgrade --sql`),
one revision at a time (so each is judged alone, as it will run in production).

    python scripts/lint_migrations.py          all revisions
    python scripts/lint_migrations.py REV...   only these

Rules excluded everywhere are in `.squawk.toml`, each with its reason; the exceptions for one
revision are in EXCEPTIONS below. A new exception needs a reason there, in review.
"""

from __future__ import annotations

import subprocess
import sys
import tempfile
import tomllib
from pathlib import Path

from alembic.config import Config
from alembic.script import ScriptDirectory

ROOT = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent
PG_VERSION = "15"

EXCEPTIONS: dict[str, dict[str, str]] = {
    "a1c3e5f70001": {
        "prefer-text-field": "Alembic's own alembic_version table (VARCHAR(32)), created with "
        "the first revision; not ours to change.",
    },
    "a1c3e5f70011": {
        "ban-drop-constraint": "drops only its own constraint (IF EXISTS) before adding it, so "
        "that a run whose VALIDATE failed can be repeated; no guarantee a client relied on.",
    },
}


def revision_sql(revision: str, down_revision: str | None) -> str:
    target = revision if down_revision is None else f"{down_revision}:{revision}"
    result = subprocess.run(
        [str(BIN / "alembic"), "upgrade", target, "--sql"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
    )
    return result.stdout


def lint(revision: str, sql: str) -> bool:
    # --exclude replaces the config's list, so pass both
    config = tomllib.loads((ROOT / ".squawk.toml").read_text())
    excluded = ",".join([*config.get("excluded_rules", []), *EXCEPTIONS.get(revision, {})])
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / f"{revision}.sql"
        path.write_text(sql)
        command = [str(BIN / "squawk"), "--config", str(ROOT / ".squawk.toml")]
        command += ["--pg-version", PG_VERSION, "--reporter", "gcc"]
        if excluded:
            command += ["--exclude", excluded]
        result = subprocess.run([*command, str(path)], capture_output=True, text=True, check=False)
    if result.returncode != 0:
        print(f"{revision}:\n{result.stdout}{result.stderr}", file=sys.stderr)
    return result.returncode == 0


def main() -> int:
    scripts = ScriptDirectory.from_config(Config(str(ROOT / "alembic.ini")))
    wanted = set(sys.argv[1:])
    revisions = list(reversed(list(scripts.walk_revisions())))
    failed = []
    for script in revisions:
        if wanted and script.revision not in wanted:
            continue
        down = script.down_revision
        assert down is None or isinstance(down, str), "branched history"
        if not lint(script.revision, revision_sql(script.revision, down)):
            failed.append(script.revision)
    checked = len(wanted) if wanted else len(revisions)
    if failed:
        print(f"squawk: {len(failed)} of {checked} revisions have findings", file=sys.stderr)
        return 1
    print(f"squawk: {checked} revisions clean")
    return 0


if __name__ == "__main__":
    sys.exit(main())
