"""The named-query loader, and every named query prepared against the migrated schema."""

from __future__ import annotations

import importlib
import inspect
import pkgutil

import asyncpg
import pytest

import backend
from backend.core.sql import SQL_DIR, Query, SQLFileError, compile_named_params, parse_queries

pytestmark = pytest.mark.anyio


def query_modules() -> list[tuple[str, dict[str, Query]]]:
    modules = []
    for info in pkgutil.walk_packages(backend.__path__, "backend."):
        if info.name.endswith(".queries"):
            module = importlib.import_module(info.name)
            modules.append((info.name, module.QUERIES))
    return modules


def test_compile_named_params_skips_literals_casts_and_comments() -> None:
    sql, params = compile_named_params(
        "SELECT ':not_a_param', \"col:x\", CAST(:a AS int), :b::text, :a -- :comment\nFROM t"
    )
    assert params == ("a", "b")
    assert (
        sql == "SELECT ':not_a_param', \"col:x\", CAST($1 AS int), $2::text, $1 -- :comment\nFROM t"
    )


def test_parse_strips_the_doc_lines_and_knows_reads_from_writes() -> None:
    queries = parse_queries(
        "-- name: get_x :one\n-- doc line\nSELECT 1\n\n-- name: put_x :exec\nUPDATE t SET a = :a\n",
        origin="t.sql",
    )
    assert queries["get_x"].sql == "SELECT 1"
    assert queries["get_x"].readonly
    assert not queries["put_x"].readonly
    assert queries["put_x"].params == ("a",)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("-- name: a :one\nSELECT 1\n-- name: a :one\nSELECT 2\n", "duplicate query name 'a'"),
        ("-- name: BadName :one\nSELECT 1\n", "bad query name"),
        ("-- name: a\nSELECT 1\n", "needs a kind"),
        ("-- name: a :some\nSELECT 1\n", "needs a kind"),
        ("-- name: a :one\n-- only a comment\n", "has no SQL"),
        ("SELECT 1\n-- name: a :one\nSELECT 1\n", "before the first"),
    ],
)
def test_malformed_files_are_refused_with_file_and_line(text: str, message: str) -> None:
    with pytest.raises(SQLFileError, match=message):
        parse_queries(text, origin="bad.sql")


def test_query_arguments_must_match_exactly() -> None:
    query = parse_queries("-- name: q :one\nSELECT :a, :b\n", origin="t.sql")["q"]
    assert query.args({"b": 2, "a": 1}) == [1, 2]
    with pytest.raises(TypeError, match="missing"):
        query.args({"a": 1})


# Run by scripts/seed.py, not by the app; still prepared below.
SCRIPT_SQL = {"seed.sql"}


def test_every_sql_file_is_served_by_a_query_module() -> None:
    loaded = {query.name for _, queries in query_modules() for query in queries.values()}
    for path in SQL_DIR.glob("*.sql"):
        if path.name in SCRIPT_SQL:
            continue
        names = set(parse_queries(path.read_text(), origin=str(path)))
        assert names <= loaded, f"{path.name}: no query module loads {sorted(names - loaded)}"


def test_each_wrapper_has_the_name_and_parameters_of_its_query() -> None:
    for module_name, queries in query_modules():
        module = importlib.import_module(module_name)
        wrappers = {
            name
            for name, fn in inspect.getmembers(module, inspect.iscoroutinefunction)
            if fn.__module__ == module_name and not name.startswith("_")
        }
        # A query the module exports as itself (a condition folded into other statements,
        # core/sql.py guarded()) has no wrapper.
        exported = {value.name for value in vars(module).values() if isinstance(value, Query)}
        assert wrappers == set(queries) - exported, f"{module_name}: wrappers and queries differ"
        for name, query in queries.items():
            if name in exported:
                continue
            signature = inspect.signature(getattr(module, name))
            keyword_only = {
                p.name for p in signature.parameters.values() if p.kind is p.KEYWORD_ONLY
            }
            assert keyword_only == set(query.params), f"{module_name}.{name}"


async def test_every_named_query_prepares_against_the_migrated_schema(
    sql: asyncpg.Connection,
) -> None:
    prepared = 0
    for path in sorted(SQL_DIR.glob("*.sql")):
        for query in parse_queries(path.read_text(), origin=str(path)).values():
            try:
                await sql.prepare(query.sql)
            except asyncpg.PostgresError as error:  # pragma: no cover - the failure message
                pytest.fail(f"{path.name}: {query.name}: {error}")
            prepared += 1
    assert prepared >= 40


def test_row_locks_are_recognised() -> None:
    queries = parse_queries(
        "-- name: a :one\nSELECT 1 FROM t FOR UPDATE\n\n"
        "-- name: b :one\nSELECT 1 FROM t FOR NO KEY UPDATE OF t\n\n"
        "-- name: c :one\nSELECT 1 FROM t FOR SHARE\n\n"
        "-- name: d :exec\nUPDATE t SET a = 1\n",
        origin="t.sql",
    )
    assert [q.locks_rows for q in queries.values()] == [True, True, True, False]
