"""`/api/profiles`: read anyone's profile, update your own."""

from __future__ import annotations

from pydantic import Field
from starlette.requests import Request
from starlette.responses import Response

from backend.core.auth import CurrentUser
from backend.core.context import app_context
from backend.core.errors import NotFound
from backend.core.http import json_response
from backend.core.models import RequestModel
from backend.core.openapi import Doc
from backend.core.routing import Routes
from backend.profiles import queries
from backend.profiles.models import ProfilePublic, ProfileUpdateBody

routes = Routes("/api/profiles", namespace="profiles")
PROFILE_NOT_FOUND = "No profile found with that username."


class UsernamePath(RequestModel):
    username: str = Field(min_length=1, max_length=64)


@routes.put(
    "/me/",
    "update-own-profile",
    Doc(
        "Update your profile (partial)", {200: ProfilePublic}, body=ProfileUpdateBody, errors=(404,)
    ),
)
async def update_own_profile(
    request: Request, user: CurrentUser, body: ProfileUpdateBody
) -> Response:
    update = body.profile_update
    present = update.model_fields_set
    profile = await queries.update_profile(
        app_context(request).db,
        user_id=user.id,
        set_full_name="full_name" in present,
        full_name=update.full_name,
        set_phone_number="phone_number" in present,
        phone_number=update.phone_number,
        set_bio="bio" in present,
        bio=update.bio,
        set_image="image" in present,
        image=None if update.image is None else str(update.image),
    )
    if profile is None:  # the account was deleted between authentication and update
        raise NotFound(PROFILE_NOT_FOUND)
    return json_response(profile, viewer_id=user.id)


@routes.get(
    "/{username}/",
    "get-profile-by-username",
    Doc("A user's profile", {200: ProfilePublic}, path=UsernamePath, errors=(404,)),
)
async def get_profile(request: Request, user: CurrentUser, path: UsernamePath) -> Response:
    profile = await app_context(request).reads.read(
        lambda db: queries.get_profile_by_username(db, username=path.username),
        primary_if=lambda found: found is None or found.user_id == user.id,
    )
    if profile is None:
        raise NotFound(PROFILE_NOT_FOUND)
    return json_response(profile, viewer_id=user.id)
