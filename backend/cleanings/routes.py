"""`/api/cleanings`: post, list own, read, edit and delete cleaning jobs."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from backend.cleanings import queries, service
from backend.cleanings.models import CleaningCreateBody, CleaningPublic, CleaningUpdateBody
from backend.core.auth import CurrentUser, authenticated
from backend.core.context import app_context
from backend.core.errors import NotFound
from backend.core.http import ListResponder, json_response, parse_body, parse_path, parse_query
from backend.core.models import Cursor, PageQuery, PositiveId, RequestModel
from backend.core.openapi import Doc, documented
from backend.core.pagination import NEWEST, page_of, start_from

cleaning_list = ListResponder(CleaningPublic)


class CleaningPath(RequestModel):
    cleaning_id: PositiveId


@documented(Doc("Post a cleaning job", {201: CleaningPublic}, body=CleaningCreateBody))
@authenticated
async def create_cleaning(request: Request, user: CurrentUser) -> Response:
    new = (await parse_body(request, CleaningCreateBody)).new_cleaning
    cleaning = await queries.create_cleaning(
        app_context(request).db,
        name=new.name,
        description=new.description,
        price=new.price,
        cleaning_type=new.cleaning_type,
        owner_id=user.id,
    )
    return json_response(cleaning, status_code=201, viewer_id=user.id)


@documented(
    Doc(
        'Your cleanings, newest first (keyset pages, `Link: rel="next"`)',
        {200: list[CleaningPublic]},
        query=PageQuery,
    )
)
@authenticated
async def list_own_cleanings(request: Request, user: CurrentUser) -> Response:
    query = parse_query(request, PageQuery)
    start = start_from(query.cursor, NEWEST)
    rows = await queries.list_cleanings_for_owner(
        app_context(request).db,
        owner_id=user.id,
        before_ts=start.ts,
        before_id=start.id,
        limit=query.limit + 1,
    )
    page = page_of(rows, query.limit, lambda c: Cursor(ts=c.created_at, id=c.id))
    return cleaning_list(page.items, viewer_id=user.id, headers=page.link_headers(request))


@documented(Doc("A cleaning", {200: CleaningPublic}, path=CleaningPath, errors=(404,)))
@authenticated
async def get_cleaning(request: Request, user: CurrentUser) -> Response:
    path = parse_path(request, CleaningPath)
    cleaning = await app_context(request).reads.read(
        lambda db: queries.get_cleaning_by_id(db, cleaning_id=path.cleaning_id, viewer_id=user.id),
        primary_if=lambda found: found is None or found.owner.id == user.id,
    )
    if cleaning is None:
        raise NotFound(service.CLEANING_NOT_FOUND)
    return json_response(cleaning, viewer_id=user.id)


@documented(
    Doc(
        "Edit your cleaning (partial)",
        {200: CleaningPublic},
        body=CleaningUpdateBody,
        path=CleaningPath,
        errors=(400, 403, 404),
    )
)
@authenticated
async def update_cleaning(request: Request, user: CurrentUser) -> Response:
    path = parse_path(request, CleaningPath)
    update = (await parse_body(request, CleaningUpdateBody)).cleaning_update
    cleaning = await service.update_cleaning(
        app_context(request).db, cleaning_id=path.cleaning_id, user_id=user.id, update=update
    )
    return json_response(cleaning, viewer_id=user.id)


@documented(
    Doc(
        "Delete your cleaning (the body is its id)",
        {200: int},
        path=CleaningPath,
        errors=(400, 403, 404),
    )
)
@authenticated
async def delete_cleaning(request: Request, user: CurrentUser) -> Response:
    path = parse_path(request, CleaningPath)
    deleted = await service.delete_cleaning(
        app_context(request).db, cleaning_id=path.cleaning_id, user_id=user.id
    )
    return Response(str(deleted), media_type="application/json")


routes = [
    Route("/", create_cleaning, methods=["POST"], name="create-cleaning"),
    Route("/", list_own_cleanings, methods=["GET"], name="list-own-cleanings"),
    Route("/{cleaning_id}/", get_cleaning, methods=["GET"], name="get-cleaning-by-id"),
    Route("/{cleaning_id}/", update_cleaning, methods=["PUT"], name="update-cleaning-by-id"),
    Route("/{cleaning_id}/", delete_cleaning, methods=["DELETE"], name="delete-cleaning-by-id"),
]
