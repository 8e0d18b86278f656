"""`/api/users/{username}/evaluations` (username = the cleaner): evaluate, list, stats, read."""

from __future__ import annotations

from pydantic import Field
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from backend.core.auth import CurrentUser, authenticated
from backend.core.context import app_context
from backend.core.errors import NotFound
from backend.core.http import ListResponder, json_response, parse_body, parse_path, parse_query
from backend.core.models import Cursor, PageQuery, PositiveId, RequestModel
from backend.core.openapi import Doc, documented
from backend.core.pagination import NEWEST, page_of, start_from
from backend.evaluations import queries, service
from backend.evaluations.models import EvaluationCreateBody, EvaluationPublic, EvaluationStats

evaluation_list = ListResponder(EvaluationPublic)


class CleanerPath(RequestModel):
    username: str = Field(min_length=1, max_length=64)


class CleanerCleaningPath(CleanerPath):
    cleaning_id: PositiveId


@documented(
    Doc(
        "Evaluate the cleaner you hired (completes their offer)",
        {201: EvaluationPublic},
        body=EvaluationCreateBody,
        path=CleanerCleaningPath,
        errors=(400, 403, 404),
    )
)
@authenticated
async def create_evaluation(request: Request, user: CurrentUser) -> Response:
    path = parse_path(request, CleanerCleaningPath)
    body = await parse_body(request, EvaluationCreateBody)
    evaluation = await service.evaluate_cleaner(
        app_context(request).db,
        cleaning_id=path.cleaning_id,
        cleaner_username=path.username,
        owner_id=user.id,
        evaluation=body.evaluation_create,
    )
    return json_response(evaluation, status_code=201, viewer_id=user.id)


@documented(
    Doc(
        "A cleaner's evaluations, newest first",
        {200: list[EvaluationPublic]},
        path=CleanerPath,
        query=PageQuery,
        errors=(404,),
    )
)
@authenticated
async def list_evaluations(request: Request, user: CurrentUser) -> Response:
    path = parse_path(request, CleanerPath)
    query = parse_query(request, PageQuery)
    db = app_context(request).reads
    cleaner = await service.public_cleaner_id(db, path.username)
    start = start_from(query.cursor, NEWEST)
    rows = await queries.list_evaluations_for_cleaner(
        db, cleaner_id=cleaner, before_ts=start.ts, before_id=start.id, limit=query.limit + 1
    )
    page = page_of(rows, query.limit, lambda e: Cursor(ts=e.created_at, id=e.cleaning_id))
    return evaluation_list(page.items, viewer_id=user.id, headers=page.link_headers(request))


@documented(
    Doc(
        "A cleaner's evaluation statistics", {200: EvaluationStats}, path=CleanerPath, errors=(404,)
    )
)
@authenticated
async def get_stats(request: Request, user: CurrentUser) -> Response:
    path = parse_path(request, CleanerPath)
    db = app_context(request).reads
    cleaner = await service.public_cleaner_id(db, path.username)
    stats = await queries.get_evaluation_stats_for_cleaner(db, cleaner_id=cleaner)
    return json_response(stats, viewer_id=user.id)


@documented(Doc("One evaluation", {200: EvaluationPublic}, path=CleanerCleaningPath, errors=(404,)))
@authenticated
async def get_evaluation(request: Request, user: CurrentUser) -> Response:
    path = parse_path(request, CleanerCleaningPath)
    db = app_context(request).reads
    cleaner = await service.public_cleaner_id(db, path.username)
    evaluation = await queries.get_evaluation(db, cleaning_id=path.cleaning_id, cleaner_id=cleaner)
    if evaluation is None:
        raise NotFound(service.EVALUATION_NOT_FOUND)
    return json_response(evaluation, viewer_id=user.id)


routes = [
    Route("/", list_evaluations, methods=["GET"], name="list-evaluations-for-user"),
    Route("/stats/", get_stats, methods=["GET"], name="get-stats-for-user"),
    Route(
        "/{cleaning_id}/", create_evaluation, methods=["POST"], name="create-evaluation-for-cleaner"
    ),
    Route("/{cleaning_id}/", get_evaluation, methods=["GET"], name="get-evaluation-for-cleaner"),
]
