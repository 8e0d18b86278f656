"""The one way for a route to require an authenticated, active user."""

from __future__ import annotations

import functools
from collections.abc import Awaitable, Callable

from starlette.requests import Request
from starlette.responses import Response

from backend.core.context import app_context
from backend.core.errors import Unauthorized
from backend.users.models import UserRow
from backend.users.queries import get_user_by_id

NOT_AUTHENTICATED = "Not authenticated."
INVALID_TOKEN = "Could not validate token credentials."
INACTIVE_USER = "Not an active user."

AuthenticatedHandler = Callable[[Request, UserRow], Awaitable[Response]]
Handler = Callable[[Request], Awaitable[Response]]


async def current_user(request: Request) -> UserRow:
    """Verify the bearer token and load its user (one indexed query that also checks the
    token's login session was not ended), or raise 401."""
    scheme, _, token = request.headers.get("authorization", "").partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise Unauthorized(NOT_AUTHENTICATED)
    ctx = app_context(request)
    claims = ctx.tokens.read_access(token.strip())
    if claims is None:
        raise Unauthorized(INVALID_TOKEN, code="invalid_token")
    user = await get_user_by_id(ctx.db, user_id=claims.user_id, family_id=claims.family_id)
    if user is None or user.token_version != claims.token_version:
        raise Unauthorized(INVALID_TOKEN, code="invalid_token")
    if not user.is_active:
        raise Unauthorized(INACTIVE_USER, code="inactive_user")
    return user


def authenticated(handler: AuthenticatedHandler) -> Handler:
    """Route decorator: the handler receives the current user as its second argument."""

    @functools.wraps(handler)
    async def endpoint(request: Request) -> Response:
        return await handler(request, await current_user(request))

    return endpoint
