"""Typed wrappers over `sql/evaluations.sql`."""

from __future__ import annotations

from datetime import datetime

from backend.core.db import Database, Reader
from backend.core.rows import Row
from backend.core.sql import load_queries
from backend.evaluations.models import EvaluationPublic, EvaluationStats

QUERIES = load_queries("evaluations")
_q = QUERIES


async def create_evaluation(
    db: Database,
    *,
    cleaning_id: int,
    cleaner_id: int,
    no_show: bool,
    headline: str | None,
    comment: str | None,
    professionalism: int | None,
    completeness: int | None,
    efficiency: int | None,
    overall_rating: int,
) -> EvaluationPublic:
    row = await db.fetch_row(
        _q["create_evaluation"],
        cleaning_id=cleaning_id,
        cleaner_id=cleaner_id,
        no_show=no_show,
        headline=headline,
        comment=comment,
        professionalism=professionalism,
        completeness=completeness,
        efficiency=efficiency,
        overall_rating=overall_rating,
    )
    return EvaluationPublic.model_validate(dict(row))


async def list_evaluations_for_cleaner(
    db: Reader, *, cleaner_id: int, before_ts: datetime, before_id: int, limit: int
) -> list[Row]:
    """Rows in EvaluationPublic's shape (the route writes them with its RowResponder)."""
    return await db.fetch_all(
        _q["list_evaluations_for_cleaner"],
        cleaner_id=cleaner_id,
        before_ts=before_ts,
        before_id=before_id,
        limit=limit,
    )


async def get_evaluation(
    db: Reader, *, cleaning_id: int, cleaner_id: int
) -> EvaluationPublic | None:
    row = await db.fetch_one(_q["get_evaluation"], cleaning_id=cleaning_id, cleaner_id=cleaner_id)
    return None if row is None else EvaluationPublic.model_validate(dict(row))


async def get_evaluation_stats_for_cleaner(db: Reader, *, cleaner_id: int) -> EvaluationStats:
    row = await db.fetch_row(_q["get_evaluation_stats_for_cleaner"], cleaner_id=cleaner_id)
    return EvaluationStats.model_validate(dict(row))
