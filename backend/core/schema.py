"""The schema revision this code was written for: the head of `migrations/`."""

from __future__ import annotations

from pathlib import Path

from alembic.script import ScriptDirectory

MIGRATIONS_DIR = Path(__file__).resolve().parents[2] / "migrations"


def expected_revision() -> str:
    """The single head revision (a branched history is a mistake this refuses)."""
    head = ScriptDirectory(str(MIGRATIONS_DIR)).get_current_head()
    if head is None:
        raise RuntimeError(f"no migrations found in {MIGRATIONS_DIR}")
    return head
