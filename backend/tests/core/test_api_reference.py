"""docs/API.md is the repository's contract: its operation index matches `/openapi.json`
exactly, every operation it lists is served, and every relative link in the docs resolves."""

from __future__ import annotations

import re
from pathlib import Path

import httpx
import pytest

from backend.tests.conftest import ROOT, RunningApp

pytestmark = pytest.mark.anyio

API_MD = ROOT / "docs" / "API.md"
_INDEX_ROW = re.compile(r"^\| (GET|POST|PUT|DELETE|PATCH) \| `(/[^`]*)` \| `([^`]+)` \|$")
_LINK = re.compile(r"\]\(([^)\s]+)\)")


def indexed_operations() -> dict[tuple[str, str], str]:
    text = API_MD.read_text()
    index = text[text.index("## Operation index") :]
    rows = [_INDEX_ROW.match(line) for line in index.splitlines()]
    return {(m[1], m[2]): m[3] for m in rows if m}


async def test_the_index_lists_exactly_the_openapi_operations(
    app: RunningApp, client: httpx.AsyncClient
) -> None:
    document = (await client.get("/openapi.json")).json()
    served = {
        (method.upper(), path): operation["operationId"]
        for path, operations in document["paths"].items()
        for method, operation in operations.items()
    }
    listed = indexed_operations()
    in_schema = {key: name for key, name in listed.items() if key in served}
    assert in_schema == served, "docs/API.md's operation index differs from /openapi.json"
    assert len(served) > 25


async def test_every_listed_operation_is_served(app: RunningApp) -> None:
    router = app.ctx_app.router
    for (method, path), name in indexed_operations().items():
        concrete = re.sub(r"\{[^}]+\}", "1", path)
        operation = router.resolve(method, concrete)
        assert operation is not None, f"{method} {path} ({name}) is listed but not served"
        assert operation.name == name, f"{method} {path} is served by another route"
    assert router.resolve("GET", "/api/nothing/here/") is None


def test_every_relative_link_in_the_docs_resolves() -> None:
    documents = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
    documents += [p for p in (ROOT / "SECURITY.md", ROOT / "CHANGELOG.md") if p.exists()]
    broken = []
    for document in documents:
        for target in _LINK.findall(document.read_text()):
            if re.match(r"^[a-z]+:", target) or target.startswith("#"):
                continue
            file_part = target.split("#", 1)[0]
            if not (document.parent / file_part).resolve().exists():
                broken.append(f"{document.relative_to(ROOT)} -> {target}")
    assert broken == []


def test_nothing_points_outside_the_repository() -> None:
    texts = {p: p.read_text() for p in [ROOT / "README.md", *(ROOT / "docs").glob("*.md")]}
    texts[Path("openapi")] = (ROOT / "backend" / "core" / "openapi.py").read_text()
    assert [p for p, text in texts.items() if "../shared" in text] == []
