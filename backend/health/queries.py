"""Typed wrappers over `sql/health.sql`."""

from __future__ import annotations

from backend.core.db import Database
from backend.core.errors import SchemaNotMigrated
from backend.core.sql import load_queries

QUERIES = load_queries("health")
_q = QUERIES


async def get_schema_revision(db: Database) -> str | None:
    """The migrated revision, or None when the database was never migrated."""
    try:
        revision: str | None = await db.fetch_value(_q["get_schema_revision"])
    except SchemaNotMigrated:
        return None
    return revision
