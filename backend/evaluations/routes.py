"""`/api/users/{username}/evaluations` (username = the cleaner): evaluate, list, stats, read."""

from __future__ import annotations

from pydantic import Field
from starlette.requests import Request
from starlette.responses import Response

from backend.core.auth import CurrentUser
from backend.core.context import app_context
from backend.core.errors import NotFound
from backend.core.http import RowResponder, json_response
from backend.core.models import Cursor, PageQuery, PositiveId, RequestModel
from backend.core.openapi import Doc
from backend.core.pagination import NEWEST, page_of, start_from
from backend.core.routing import Routes
from backend.evaluations import queries, service
from backend.evaluations.models import EvaluationCreateBody, EvaluationPublic, EvaluationStats

routes = Routes("/api/users/{username}/evaluations", namespace="evaluations")
evaluation_rows = RowResponder(EvaluationPublic)


class CleanerPath(RequestModel):
    username: str = Field(min_length=1, max_length=64)


class CleanerCleaningPath(CleanerPath):
    cleaning_id: PositiveId


@routes.post(
    "/{cleaning_id}/",
    "create-evaluation-for-cleaner",
    Doc(
        "Evaluate the cleaner you hired (completes their offer)",
        {201: EvaluationPublic},
        body=EvaluationCreateBody,
        path=CleanerCleaningPath,
        errors=(400, 403, 404),
    ),
)
async def create_evaluation(
    request: Request, user: CurrentUser, path: CleanerCleaningPath, body: EvaluationCreateBody
) -> Response:
    evaluation = await service.evaluate_cleaner(
        app_context(request).db,
        cleaning_id=path.cleaning_id,
        cleaner_username=path.username,
        owner_id=user.id,
        evaluation=body.evaluation_create,
    )
    return json_response(evaluation, status_code=201, viewer_id=user.id)


@routes.get(
    "/",
    "list-evaluations-for-user",
    Doc(
        "A cleaner's evaluations, newest first",
        {200: list[EvaluationPublic]},
        path=CleanerPath,
        query=PageQuery,
        errors=(404,),
    ),
)
async def list_evaluations(
    request: Request, user: CurrentUser, path: CleanerPath, query: PageQuery
) -> Response:
    db = app_context(request).reads
    cleaner = await service.public_cleaner_id(db, path.username)
    start = start_from(query.cursor, NEWEST)
    rows = await queries.list_evaluations_for_cleaner(
        db, cleaner_id=cleaner, before_ts=start.ts, before_id=start.id, limit=query.limit + 1
    )
    page = page_of(rows, query.limit, lambda e: Cursor(ts=e["created_at"], id=e["cleaning_id"]))
    return evaluation_rows.list(page.items, viewer_id=user.id, headers=page.link_headers(request))


@routes.get(
    "/stats/",
    "get-stats-for-user",
    Doc(
        "A cleaner's evaluation statistics", {200: EvaluationStats}, path=CleanerPath, errors=(404,)
    ),
)
async def get_stats(request: Request, user: CurrentUser, path: CleanerPath) -> Response:
    db = app_context(request).reads
    cleaner = await service.public_cleaner_id(db, path.username)
    stats = await queries.get_evaluation_stats_for_cleaner(db, cleaner_id=cleaner)
    return json_response(stats, viewer_id=user.id)


@routes.get(
    "/{cleaning_id}/",
    "get-evaluation-for-cleaner",
    Doc("One evaluation", {200: EvaluationPublic}, path=CleanerCleaningPath, errors=(404,)),
)
async def get_evaluation(
    request: Request, user: CurrentUser, path: CleanerCleaningPath
) -> Response:
    db = app_context(request).reads
    cleaner = await service.public_cleaner_id(db, path.username)
    evaluation = await queries.get_evaluation(db, cleaning_id=path.cleaning_id, cleaner_id=cleaner)
    if evaluation is None:
        raise NotFound(service.EVALUATION_NOT_FOUND)
    return json_response(evaluation, viewer_id=user.id)
