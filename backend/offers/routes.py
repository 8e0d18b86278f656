"""`/api/cleanings/{cleaning_id}/offers`: offer, list, read, accept, cancel, rescind."""

from __future__ import annotations

from pydantic import Field
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from backend.cleanings.routes import CleaningPath
from backend.cleanings.service import CLEANING_NOT_FOUND
from backend.core.auth import CurrentUser, authenticated
from backend.core.context import app_context
from backend.core.errors import Forbidden, NotFound
from backend.core.http import ListResponder, json_response, parse_path, parse_query
from backend.core.models import Cursor, PageQuery
from backend.core.openapi import Doc, documented
from backend.core.pagination import OLDEST, page_of, start_from
from backend.offers import queries, service
from backend.offers.models import OfferPublic

offer_list = ListResponder(OfferPublic)


class OfferPath(CleaningPath):
    username: str = Field(min_length=1, max_length=64)


@documented(Doc("Offer to do a cleaning", {201: OfferPublic}, path=CleaningPath, errors=(400, 404)))
@authenticated
async def create_offer(request: Request, user: CurrentUser) -> Response:
    path = parse_path(request, CleaningPath)
    offer = await service.create_offer(
        app_context(request).db, cleaning_id=path.cleaning_id, user_id=user.id
    )
    return json_response(offer, status_code=201, viewer_id=user.id)


@documented(
    Doc(
        "The offers on your cleaning, oldest first",
        {200: list[OfferPublic]},
        path=CleaningPath,
        query=PageQuery,
        errors=(403, 404),
    )
)
@authenticated
async def list_offers(request: Request, user: CurrentUser) -> Response:
    path = parse_path(request, CleaningPath)
    query = parse_query(request, PageQuery)
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
    page = page_of(rows, query.limit, lambda o: Cursor(ts=o.created_at, id=o.user_id))
    return offer_list(page.items, viewer_id=user.id, headers=page.link_headers(request))


@documented(
    Doc(
        "One offer (its cleaning's owner or its maker)",
        {200: OfferPublic},
        path=OfferPath,
        errors=(403, 404),
    )
)
@authenticated
async def get_offer(request: Request, user: CurrentUser) -> Response:
    path = parse_path(request, OfferPath)
    offer = await service.get_offer(
        app_context(request).db,
        cleaning_id=path.cleaning_id,
        username=path.username,
        viewer_id=user.id,
        viewer_username=user.username,
    )
    return json_response(offer, viewer_id=user.id)


@documented(
    Doc(
        "Accept a pending offer (the others are rejected)",
        {200: OfferPublic},
        path=OfferPath,
        errors=(400, 403, 404),
    )
)
@authenticated
async def accept_offer(request: Request, user: CurrentUser) -> Response:
    path = parse_path(request, OfferPath)
    offer = await service.accept_offer(
        app_context(request).db,
        cleaning_id=path.cleaning_id,
        username=path.username,
        owner_id=user.id,
    )
    return json_response(offer, viewer_id=user.id)


@documented(
    Doc(
        "Cancel your accepted offer (rejected ones become pending)",
        {200: OfferPublic},
        path=CleaningPath,
        errors=(400, 404),
    )
)
@authenticated
async def cancel_offer(request: Request, user: CurrentUser) -> Response:
    path = parse_path(request, CleaningPath)
    offer = await service.cancel_offer(
        app_context(request).db, cleaning_id=path.cleaning_id, user_id=user.id
    )
    return json_response(offer, viewer_id=user.id)


@documented(
    Doc(
        "Rescind your pending offer (returns the deleted offer)",
        {200: OfferPublic},
        path=CleaningPath,
        errors=(400, 404),
    )
)
@authenticated
async def rescind_offer(request: Request, user: CurrentUser) -> Response:
    path = parse_path(request, CleaningPath)
    offer = await service.rescind_offer(
        app_context(request).db, cleaning_id=path.cleaning_id, user_id=user.id
    )
    return json_response(offer, viewer_id=user.id)


routes = [
    Route("/", create_offer, methods=["POST"], name="create-offer"),
    Route("/", list_offers, methods=["GET"], name="list-offers-for-cleaning"),
    Route("/", cancel_offer, methods=["PUT"], name="cancel-offer-from-user"),
    Route("/", rescind_offer, methods=["DELETE"], name="rescind-offer-from-user"),
    Route("/{username}/", get_offer, methods=["GET"], name="get-offer-from-user"),
    Route("/{username}/", accept_offer, methods=["PUT"], name="accept-offer-from-user"),
]
