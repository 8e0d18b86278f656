"""Every package installed in the environment the tests run in is pinned, at that version,
in one of the requirements files (transitive ones included), as the README promises."""

from __future__ import annotations

import re
from importlib import metadata

from backend.tests.servers import ROOT

REQUIREMENT_FILES = ("requirements.txt", "requirements-dev.txt", "requirements-bench.txt")
_PIN = re.compile(r"^([A-Za-z0-9_.-]+)(?:\[[^\]]*\])?==(\S+)$")
NOT_PINNED = {"pip", "setuptools", "wheel"}  # the installer itself


def normalise(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def pins() -> dict[str, str]:
    pinned: dict[str, str] = {}
    for name in REQUIREMENT_FILES:
        for line in (ROOT / name).read_text().splitlines():
            match = _PIN.match(line.strip())
            if match:
                pinned[normalise(match[1])] = match[2]
            else:
                assert line.startswith(("#", "-r ")) or not line.strip(), f"{name}: {line!r}"
    return pinned


def test_every_installed_package_is_pinned_at_its_version() -> None:
    pinned = pins()
    installed = {normalise(d.metadata["Name"]): d.version for d in metadata.distributions()}
    unpinned = {n: v for n, v in installed.items() if n not in pinned and n not in NOT_PINNED}
    assert unpinned == {}
    drifted = {n: (v, pinned[n]) for n, v in installed.items() if n in pinned and pinned[n] != v}
    assert drifted == {}


def test_the_runtime_requirements_do_not_carry_development_tools() -> None:
    runtime = (ROOT / "requirements.txt").read_text()
    for tool in ("pytest", "mypy", "ruff", "matplotlib", "numpy", "schemathesis"):
        assert f"\n{tool}==" not in runtime
    dev = (ROOT / "requirements-dev.txt").read_text()
    assert "matplotlib" not in dev
    assert "numpy" not in dev


def test_the_sbom_lists_exactly_the_pinned_runtime_requirements() -> None:
    """sbom/phresh-runtime.cdx.json (make sbom) is CycloneDX and matches requirements.txt."""
    import json

    document = json.loads((ROOT / "sbom" / "phresh-runtime.cdx.json").read_text())
    assert document["bomFormat"] == "CycloneDX"
    listed = {normalise(c["name"]): c["version"] for c in document["components"]}
    runtime: dict[str, str] = {}
    for line in (ROOT / "requirements.txt").read_text().splitlines():
        match = _PIN.match(line.strip())
        if match:
            runtime[normalise(match[1])] = match[2]
    assert listed == runtime
