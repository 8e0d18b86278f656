"""Typed wrappers over `sql/replica.sql` (the read-replica lag monitor in core/replica.py)."""

from __future__ import annotations

from backend.core.db import Reader
from backend.core.sql import load_queries

QUERIES = load_queries("replica")
_q = QUERIES


async def primary_wal_position(db: Reader) -> int:
    return int(await db.fetch_value(_q["primary_wal_position"]))


async def replayed_wal_position(db: Reader) -> int:
    return int(await db.fetch_value(_q["replayed_wal_position"]))
