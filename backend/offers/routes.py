"""`/api/cleanings/{cleaning_id}/offers`: offer, list, read, accept, cancel, rescind."""

from __future__ import annotations

from pydantic import Field
from starlette.requests import Request
from starlette.responses import Response

from backend.cleanings.routes import CleaningPath
from backend.cleanings.service import CLEANING_NOT_FOUND
from backend.core.auth import CurrentUser
from backend.core.context import app_context
from backend.core.errors import Forbidden, NotFound
from backend.core.http import RowResponder, json_response
from backend.core.models import Cursor, PageQuery
from backend.core.openapi import Doc
from backend.core.pagination import OLDEST, page_of, start_from
from backend.core.routing import Routes
from backend.offers import queries, service
from backend.offers.models import OfferPublic

routes = Routes("/api/cleanings/{cleaning_id}/offers", namespace="offers")
offer_rows = RowResponder(OfferPublic)


class OfferPath(CleaningPath):
    username: str = Field(min_length=1, max_length=64)


@routes.post(
    "/",
    "create-offer",
    Doc("Offer to do a cleaning", {201: OfferPublic}, path=CleaningPath, errors=(400, 404)),
)
async def create_offer(request: Request, user: CurrentUser, path: CleaningPath) -> Response:
    offer = await service.create_offer(
        app_context(request).db, cleaning_id=path.cleaning_id, user_id=user.id
    )
    return json_response(offer, status_code=201, viewer_id=user.id)


@routes.get(
    "/",
    "list-offers-for-cleaning",
    Doc(
        "The offers on your cleaning, oldest first",
        {200: list[OfferPublic]},
        path=CleaningPath,
        query=PageQuery,
        errors=(403, 404),
    ),
)
async def list_offers(
    request: Request, user: CurrentUser, path: CleaningPath, query: PageQuery
) -> Response:
    start = start_from(query.cursor, OLDEST)
    found = await queries.list_offers_for_cleaning(
        app_context(request).db,
        cleaning_id=path.cleaning_id,
        after_ts=start.ts,
        after_id=start.id,
        limit=query.limit + 1,
    )
    if found is None:
        raise NotFound(CLEANING_NOT_FOUND)
    owner, rows = found
    if owner != user.id:
        raise Forbidden(service.CANNOT_LIST_OFFERS)
    page = page_of(rows, query.limit, lambda o: Cursor(ts=o["created_at"], id=o["user_id"]))
    return offer_rows.list(page.items, viewer_id=user.id, headers=page.link_headers(request))


@routes.get(
    "/{username}/",
    "get-offer-from-user",
    Doc(
        "One offer (its cleaning's owner or its maker)",
        {200: OfferPublic},
        path=OfferPath,
        errors=(403, 404),
    ),
)
async def get_offer(request: Request, user: CurrentUser, path: OfferPath) -> Response:
    offer = await service.get_offer(
        app_context(request).db,
        cleaning_id=path.cleaning_id,
        username=path.username,
        viewer_id=user.id,
    )
    return json_response(offer, viewer_id=user.id)


@routes.put(
    "/{username}/",
    "accept-offer-from-user",
    Doc(
        "Accept a pending offer (the others are rejected)",
        {200: OfferPublic},
        path=OfferPath,
        errors=(400, 403, 404),
    ),
)
async def accept_offer(request: Request, user: CurrentUser, path: OfferPath) -> Response:
    offer = await service.accept_offer(
        app_context(request).db,
        cleaning_id=path.cleaning_id,
        username=path.username,
        owner_id=user.id,
    )
    return json_response(offer, viewer_id=user.id)


@routes.put(
    "/",
    "cancel-offer-from-user",
    Doc(
        "Cancel your accepted offer (rejected ones become pending)",
        {200: OfferPublic},
        path=CleaningPath,
        errors=(400, 404),
    ),
)
async def cancel_offer(request: Request, user: CurrentUser, path: CleaningPath) -> Response:
    offer = await service.cancel_offer(
        app_context(request).db, cleaning_id=path.cleaning_id, user_id=user.id
    )
    return json_response(offer, viewer_id=user.id)


@routes.delete(
    "/",
    "rescind-offer-from-user",
    Doc(
        "Rescind your pending offer (returns the deleted offer)",
        {200: OfferPublic},
        path=CleaningPath,
        errors=(400, 404),
    ),
)
async def rescind_offer(request: Request, user: CurrentUser, path: CleaningPath) -> Response:
    offer = await service.rescind_offer(
        app_context(request).db, cleaning_id=path.cleaning_id, user_id=user.id
    )
    return json_response(offer, viewer_id=user.id)
