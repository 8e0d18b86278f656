"""Loads named queries from `sql/<file>.sql` and compiles them once for asyncpg.

A file holds blocks that each start with `-- name: <snake_case> :<one|many|value|exec>`;
the `--` lines right after the name line document the query and are dropped. Named
parameters (`:cleaning_id`) become asyncpg's positional `$n` at load time, so no
request pays for SQL compilation.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

SQL_DIR = Path(__file__).resolve().parents[2] / "sql"

QueryKind = Literal["one", "many", "value", "exec"]
_KINDS: tuple[QueryKind, ...] = ("one", "many", "value", "exec")
_NAME_LINE = re.compile(r"^--\s*name:\s*(?P<name>\S+)\s*(?P<kind>:\S+)?\s*$")
_VALID_NAME = re.compile(r"^[a-z][a-z0-9_]*$")
_WRITE_KEYWORDS = re.compile(r"\b(INSERT|UPDATE|DELETE|MERGE|FOR\s+UPDATE|FOR\s+SHARE)\b", re.I)
_ROW_LOCKS = re.compile(r"\bFOR\s+(NO\s+KEY\s+UPDATE|UPDATE|KEY\s+SHARE|SHARE)\b", re.I)


class SQLFileError(ValueError):
    """A `.sql` file that the loader refuses (bad or duplicate name, unknown kind)."""


@dataclass(frozen=True, slots=True)
class Query:
    """One named statement, compiled to asyncpg's `$n` placeholders."""

    name: str
    kind: QueryKind
    source: str
    sql: str
    params: tuple[str, ...]
    readonly: bool
    locks_rows: bool = False  # FOR UPDATE / SHARE: only meaningful inside a transaction

    def args(self, values: dict[str, Any]) -> list[Any]:
        """Positional arguments for asyncpg, in `$n` order; names must match exactly."""
        if values.keys() != set(self.params):
            missing = set(self.params) - values.keys()
            extra = values.keys() - set(self.params)
            raise TypeError(f"{self.name}: missing {sorted(missing)}, unexpected {sorted(extra)}")
        return [values[name] for name in self.params]


def guarded(query: Query, condition: Query) -> Query:
    """`query` whose rows come back only while `condition` (a `:value` query, true or false)
    holds: `SELECT q.* FROM (<query>) AS q WHERE (<condition>)`. PostgreSQL evaluates the
    uncorrelated condition once, before the read (an InitPlan and a one-time filter: the read
    is not run when it is false), and plans the read as on its own; `query`'s rows, columns
    and order are unchanged (a subquery scan and a filter reorder nothing). Cached."""
    found = _GUARDED.get((query, condition))
    if found is not None:
        return found
    if not query.readonly or query.kind == "exec" or condition.kind != "value":
        raise ValueError(f"{query.name} cannot be guarded by {condition.name}")
    if clash := set(query.params) & set(condition.params):
        raise ValueError(f"{query.name} uses {sorted(clash)}, the names {condition.name} takes")
    source = f"SELECT q.*\nFROM (\n{query.source}\n) AS q\nWHERE (\n{condition.source}\n)"
    sql, params = compile_named_params(source)
    found = _GUARDED[(query, condition)] = Query(query.name, query.kind, source, sql, params, True)
    return found


_GUARDED: dict[tuple[Query, Query], Query] = {}


def compile_named_params(source: str) -> tuple[str, tuple[str, ...]]:
    """Replace `:name` with `$n`, skipping literals, quoted names, comments and `::` casts."""
    out: list[str] = []
    params: list[str] = []
    i, length = 0, len(source)
    while i < length:
        char = source[i]
        if char in "'\"":
            end = i + 1
            while end < length:
                if source[end] == char:
                    if end + 1 < length and source[end + 1] == char:
                        end += 2
                        continue
                    break
                end += 1
            out.append(source[i : end + 1])
            i = end + 1
        elif source.startswith("--", i):
            end = source.find("\n", i)
            end = length if end == -1 else end
            out.append(source[i:end])
            i = end
        elif char == ":" and i + 1 < length and source[i + 1] == ":":
            out.append("::")
            i += 2
        elif char == ":" and (match := re.match(r"[A-Za-z_]\w*", source[i + 1 :])):
            name = match.group(0)
            if name not in params:
                params.append(name)
            out.append(f"${params.index(name) + 1}")
            i += 1 + len(name)
        else:
            out.append(char)
            i += 1
    return "".join(out), tuple(params)


def parse_queries(text: str, origin: str) -> dict[str, Query]:
    """Split a file's text into named queries; raise SQLFileError on any malformed block."""
    queries: dict[str, Query] = {}
    name: str | None = None
    kind: QueryKind = "exec"
    body: list[str] = []
    in_header = False

    def finish() -> None:
        if name is None:
            if "".join(body).strip():
                raise SQLFileError(f"{origin}: SQL before the first '-- name:' line")
            return
        source = "\n".join(body).strip().rstrip(";").strip()
        if not source:
            raise SQLFileError(f"{origin}: query {name!r} has no SQL")
        sql, params = compile_named_params(source)
        readonly = _WRITE_KEYWORDS.search(source) is None
        locks = _ROW_LOCKS.search(source) is not None
        queries[name] = Query(name, kind, source, sql, params, readonly, locks)

    for lineno, line in enumerate(text.splitlines(), start=1):
        header = _NAME_LINE.match(line.strip())
        if header:
            finish()
            name, raw_kind = header.group("name"), (header.group("kind") or ":")[1:]
            if not _VALID_NAME.match(name):
                raise SQLFileError(f"{origin}:{lineno}: bad query name {name!r} (snake_case)")
            if name in queries:
                raise SQLFileError(f"{origin}:{lineno}: duplicate query name {name!r}")
            if raw_kind not in _KINDS:
                raise SQLFileError(
                    f"{origin}:{lineno}: query {name!r} needs a kind, one of "
                    + ", ".join(f":{k}" for k in _KINDS)
                )
            kind = next(k for k in _KINDS if k == raw_kind)
            body, in_header = [], True
        elif line.strip().startswith("--") and (in_header or name is None):
            continue
        else:
            in_header = in_header and not line.strip()
            body.append(line)
    finish()
    return queries


def load_queries(domain: str, sql_dir: Path = SQL_DIR) -> dict[str, Query]:
    """Load `sql/<domain>.sql`; fails at import time with the file and line of a problem."""
    path = sql_dir / f"{domain}.sql"
    return parse_queries(path.read_text(encoding="utf-8"), origin=str(path))
