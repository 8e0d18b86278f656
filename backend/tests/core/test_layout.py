"""The code layout the architecture promises: `backend/core/` is the shell every domain
builds on, so it imports none of them (the domains and `backend/app.py` import core)."""

from __future__ import annotations

import ast
from pathlib import Path

from backend.tests.conftest import ROOT

CORE = ROOT / "backend" / "core"
DOMAINS = {
    path.name
    for path in (ROOT / "backend").iterdir()
    if path.is_dir() and path.name not in {"core", "tests", "__pycache__"}
}


def imported_modules(path: Path) -> set[str]:
    found = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.ImportFrom) and node.module:
            found.add(node.module)
        elif isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
    return found


def test_core_imports_no_domain_package() -> None:
    assert {"users", "cleanings", "offers"} <= DOMAINS  # the scan sees the domains
    offenders = {
        f"{path.name}: {module}"
        for path in CORE.glob("*.py")
        for module in imported_modules(path)
        if (parts := module.split("."))[0] == "backend" and len(parts) > 1 and parts[1] in DOMAINS
    }
    assert not offenders, sorted(offenders)
