"""Evaluations: an owner's rating of the cleaner they hired."""

from __future__ import annotations

from typing import Annotated

from pydantic import Field, StringConstraints

from backend.core.models import DateTimeModel, PublicModel, RequestModel

Rating = Annotated[int, Field(ge=0, le=5, strict=True)]


class EvaluationCreate(RequestModel):
    no_show: bool = False
    headline: Annotated[str, StringConstraints(max_length=200)] | None = None
    comment: Annotated[str, StringConstraints(max_length=5000)] | None = None
    professionalism: Rating | None = None
    completeness: Rating | None = None
    efficiency: Rating | None = None
    overall_rating: Rating


class EvaluationCreateBody(RequestModel):
    evaluation_create: EvaluationCreate


class EvaluationPublic(DateTimeModel):
    cleaning_id: int
    cleaner_id: int
    no_show: bool
    headline: str | None
    comment: str | None
    professionalism: int | None
    completeness: int | None
    efficiency: int | None
    overall_rating: int


class EvaluationStats(PublicModel):
    avg_professionalism: float | None
    avg_completeness: float | None
    avg_efficiency: float | None
    avg_overall_rating: float | None
    max_overall_rating: int | None
    min_overall_rating: int | None
    one_stars: int
    two_stars: int
    three_stars: int
    four_stars: int
    five_stars: int
    total_evaluations: int
    total_no_show: int
