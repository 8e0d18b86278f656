"""`/api/cleanings`: post, list own, read, edit and delete cleaning jobs."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response

from backend.cleanings import queries, service
from backend.cleanings.models import CleaningCreateBody, CleaningPublic, CleaningUpdateBody
from backend.core.auth import CurrentUser
from backend.core.context import app_context
from backend.core.errors import NotFound
from backend.core.http import RowResponder
from backend.core.models import Cursor, PageQuery, PositiveId, RequestModel
from backend.core.openapi import Doc
from backend.core.pagination import NEWEST, page_of, start_from
from backend.core.routing import Routes

routes = Routes("/api/cleanings", namespace="cleanings")
cleaning_rows = RowResponder(CleaningPublic)


class CleaningPath(RequestModel):
    cleaning_id: PositiveId


@routes.post(
    "/",
    "create-cleaning",
    Doc("Post a cleaning job", {201: CleaningPublic}, body=CleaningCreateBody),
)
async def create_cleaning(
    request: Request, user: CurrentUser, body: CleaningCreateBody
) -> Response:
    new = body.new_cleaning
    cleaning = await queries.create_cleaning(
        app_context(request).db,
        name=new.name,
        description=new.description,
        price=new.price,
        cleaning_type=new.cleaning_type,
        owner_id=user.id,
    )
    return cleaning_rows.one(cleaning, viewer_id=user.id, status_code=201)


@routes.get(
    "/",
    "list-own-cleanings",
    Doc(
        'Your cleanings, newest first (keyset pages, `Link: rel="next"`)',
        {200: list[CleaningPublic]},
        query=PageQuery,
    ),
)
async def list_own_cleanings(request: Request, user: CurrentUser, query: PageQuery) -> Response:
    start = start_from(query.cursor, NEWEST)
    rows = await queries.list_cleanings_for_owner(
        app_context(request).db,
        owner_id=user.id,
        before_ts=start.ts,
        before_id=start.id,
        limit=query.limit + 1,
    )
    page = page_of(rows, query.limit, lambda c: Cursor(ts=c["created_at"], id=c["id"]))
    return cleaning_rows.list(page.items, viewer_id=user.id, headers=page.link_headers(request))


@routes.get(
    "/{cleaning_id}/",
    "get-cleaning-by-id",
    Doc("A cleaning", {200: CleaningPublic}, path=CleaningPath, errors=(404,)),
)
async def get_cleaning(request: Request, user: CurrentUser, path: CleaningPath) -> Response:
    cleaning = await app_context(request).reads.read(
        lambda db: queries.get_cleaning_by_id(db, cleaning_id=path.cleaning_id, viewer_id=user.id),
        primary_if=lambda found: found is None or found["owner"]["id"] == user.id,
    )
    if cleaning is None:
        raise NotFound(service.CLEANING_NOT_FOUND)
    return cleaning_rows.one(cleaning, viewer_id=user.id)


@routes.put(
    "/{cleaning_id}/",
    "update-cleaning-by-id",
    Doc(
        "Edit your cleaning (partial)",
        {200: CleaningPublic},
        body=CleaningUpdateBody,
        path=CleaningPath,
        errors=(400, 403, 404),
    ),
)
async def update_cleaning(
    request: Request, user: CurrentUser, path: CleaningPath, body: CleaningUpdateBody
) -> Response:
    update = body.cleaning_update
    cleaning = await service.update_cleaning(
        app_context(request).db, cleaning_id=path.cleaning_id, user_id=user.id, update=update
    )
    return cleaning_rows.one(cleaning, viewer_id=user.id)


@routes.delete(
    "/{cleaning_id}/",
    "delete-cleaning-by-id",
    Doc(
        "Delete your cleaning (the body is its id)",
        {200: int},
        path=CleaningPath,
        errors=(400, 403, 404),
    ),
)
async def delete_cleaning(request: Request, user: CurrentUser, path: CleaningPath) -> Response:
    deleted = await service.delete_cleaning(
        app_context(request).db, cleaning_id=path.cleaning_id, user_id=user.id
    )
    return Response(str(deleted), media_type="application/json")
