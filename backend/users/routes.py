"""`/api/users`: register, login, tokens, password, account."""

from __future__ import annotations

from starlette.background import BackgroundTask
from starlette.requests import Request
from starlette.responses import Response

from backend.core.auth import INVALID_TOKEN, CurrentUser
from backend.core.context import app_context
from backend.core.errors import Unauthorized
from backend.core.http import json_response
from backend.core.openapi import Doc
from backend.core.routing import Routes
from backend.users import queries, service
from backend.users.models import (
    LoginForm,
    PasswordResetConfirm,
    PasswordResetRequest,
    PasswordUpdateBody,
    RefreshTokenBody,
    ResetAccepted,
    TokenPair,
    UserPublic,
    UserRegisterBody,
)
from backend.users.ratelimit import client_address

routes = Routes("/api/users", namespace="users")


def _address(request: Request) -> str:
    return client_address(request, app_context(request).settings.trusted_proxies)


@routes.post(
    "/",
    "register-new-user",
    Doc(
        "Register a new user (returns an access token)",
        {201: UserPublic},
        body=UserRegisterBody,
        errors=(400, 429),
        auth=False,
    ),
)
async def register(request: Request, body: UserRegisterBody) -> Response:
    ctx = app_context(request)
    user = await service.register(
        ctx.db,
        passwords=ctx.passwords,
        tokens=ctx.tokens,
        settings=ctx.settings,
        new_user=body.new_user,
        address=_address(request),
    )
    return json_response(user, status_code=201, viewer_id=user.id)


@routes.post(
    "/login/token/",
    "login-email-and-password",
    Doc(
        "Log in with email (as `username`) and password",
        {200: TokenPair},
        form=LoginForm,
        errors=(401, 429),
        auth=False,
    ),
)
async def login(request: Request, form: LoginForm) -> Response:
    ctx = app_context(request)
    tokens = await service.login(
        ctx.db,
        passwords=ctx.passwords,
        tokens=ctx.tokens,
        settings=ctx.settings,
        form=form,
        address=_address(request),
    )
    return json_response(tokens, headers={"Cache-Control": "no-store"})


@routes.get("/me/", "get-current-user", Doc("The current user", {200: UserPublic}))
async def me(request: Request, user: CurrentUser) -> Response:
    account = await queries.get_user_by_id(app_context(request).db, user_id=user.id)
    if account is None:  # deleted since the check passed
        raise Unauthorized(INVALID_TOKEN, code="invalid_token")
    return json_response(account, viewer_id=user.id)


@routes.post(
    "/token/refresh/",
    "refresh-token",
    Doc(
        "Rotate a refresh token for a new pair",
        {200: TokenPair},
        body=RefreshTokenBody,
        errors=(401,),
        auth=False,
    ),
)
async def refresh_token(request: Request, body: RefreshTokenBody) -> Response:
    ctx = app_context(request)
    tokens = await service.refresh(
        ctx.db, tokens=ctx.tokens, settings=ctx.settings, refresh_token=body.refresh_token
    )
    return json_response(tokens, headers={"Cache-Control": "no-store"})


@routes.post(
    "/logout/",
    "logout",
    Doc(
        "End a session (its refresh token family)",
        {204: None},
        body=RefreshTokenBody,
        errors=(401,),
        auth=False,
    ),
)
async def logout(request: Request, body: RefreshTokenBody) -> Response:
    ctx = app_context(request)
    await service.logout(ctx.db, tokens=ctx.tokens, refresh_token=body.refresh_token)
    return Response(status_code=204)


@routes.put(
    "/me/password/",
    "change-password",
    Doc(
        "Change the password (ends every session)",
        {204: None},
        body=PasswordUpdateBody,
        errors=(400,),
    ),
)
async def change_password(
    request: Request, user: CurrentUser, body: PasswordUpdateBody
) -> Response:
    ctx = app_context(request)
    await service.change_password(
        ctx.db, passwords=ctx.passwords, user=user, update=body.password_update
    )
    return Response(status_code=204)


@routes.delete(
    "/me/", "delete-current-user", Doc("Delete the account and everything it owns", {204: None})
)
async def delete_me(request: Request, user: CurrentUser) -> Response:
    await service.delete_account(app_context(request).db, user=user)
    return Response(status_code=204)


@routes.post(
    "/password-reset/",
    "request-password-reset",
    Doc(
        "Ask for a password reset mail",
        {202: ResetAccepted},
        body=PasswordResetRequest,
        errors=(429,),
        auth=False,
    ),
)
async def request_password_reset(request: Request, body: PasswordResetRequest) -> Response:
    ctx = app_context(request)
    job = await service.request_password_reset(
        ctx.db,
        tokens=ctx.tokens,
        outbox=ctx.outbox,
        settings=ctx.settings,
        email=str(body.email),
        address=_address(request),
    )
    response = json_response(ResetAccepted(), status_code=202)
    if job is not None:  # detached once the answer is out: its cost is not in the timing
        response.background = BackgroundTask(
            ctx.jobs.start_after_response, "password-reset-mail", job
        )
    return response


@routes.post(
    "/password-reset/confirm/",
    "confirm-password-reset",
    Doc(
        "Set a new password with a reset token",
        {204: None},
        body=PasswordResetConfirm,
        errors=(400, 429),
        auth=False,
    ),
)
async def confirm_password_reset(request: Request, body: PasswordResetConfirm) -> Response:
    ctx = app_context(request)
    await service.confirm_password_reset(
        ctx.db,
        passwords=ctx.passwords,
        tokens=ctx.tokens,
        settings=ctx.settings,
        confirm=body,
        address=_address(request),
    )
    return Response(status_code=204)
