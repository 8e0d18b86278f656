"""`/api/users`: register, login, tokens, password, account."""

from __future__ import annotations

from starlette.background import BackgroundTask
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from backend.core.auth import CurrentUser, authenticated, authenticated_loading
from backend.core.context import app_context
from backend.core.http import json_response, parse_body, parse_form
from backend.core.openapi import Doc, documented
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
    UserRow,
)
from backend.users.ratelimit import client_address


def _address(request: Request) -> str:
    return client_address(request, app_context(request).settings.trusted_proxies)


@documented(
    Doc(
        "Register a new user (returns an access token)",
        {201: UserPublic},
        body=UserRegisterBody,
        errors=(400, 429),
        auth=False,
    )
)
async def register(request: Request) -> Response:
    body = await parse_body(request, UserRegisterBody)
    user = await service.register(app_context(request), body.new_user, _address(request))
    return json_response(user, status_code=201, viewer_id=user.id)


@documented(
    Doc(
        "Log in with email (as `username`) and password",
        {200: TokenPair},
        form=LoginForm,
        errors=(401, 429),
        auth=False,
    )
)
async def login(request: Request) -> Response:
    form = await parse_form(request, LoginForm)
    tokens = await service.login(app_context(request), form, _address(request))
    return json_response(tokens, headers={"Cache-Control": "no-store"})


@documented(Doc("The current user", {200: UserPublic}))
@authenticated_loading(queries.get_user_by_id)
async def me(request: Request, user: UserRow) -> Response:
    return json_response(user, viewer_id=user.id)


@documented(
    Doc(
        "Rotate a refresh token for a new pair",
        {200: TokenPair},
        body=RefreshTokenBody,
        errors=(401,),
        auth=False,
    )
)
async def refresh_token(request: Request) -> Response:
    body = await parse_body(request, RefreshTokenBody)
    tokens = await service.refresh(app_context(request), body.refresh_token)
    return json_response(tokens, headers={"Cache-Control": "no-store"})


@documented(
    Doc(
        "End a session (its refresh token family)",
        {204: None},
        body=RefreshTokenBody,
        errors=(401,),
        auth=False,
    )
)
async def logout(request: Request) -> Response:
    body = await parse_body(request, RefreshTokenBody)
    await service.logout(app_context(request), body.refresh_token)
    return Response(status_code=204)


@documented(
    Doc(
        "Change the password (ends every session)",
        {204: None},
        body=PasswordUpdateBody,
        errors=(400,),
    )
)
@authenticated
async def change_password(request: Request, user: CurrentUser) -> Response:
    body = await parse_body(request, PasswordUpdateBody)
    await service.change_password(app_context(request), user, body.password_update)
    return Response(status_code=204)


@documented(Doc("Delete the account and everything it owns", {204: None}))
@authenticated
async def delete_me(request: Request, user: CurrentUser) -> Response:
    await service.delete_account(app_context(request), user)
    return Response(status_code=204)


@documented(
    Doc(
        "Ask for a password reset mail",
        {202: ResetAccepted},
        body=PasswordResetRequest,
        errors=(429,),
        auth=False,
    )
)
async def request_password_reset(request: Request) -> Response:
    body = await parse_body(request, PasswordResetRequest)
    ctx = app_context(request)
    job = await service.request_password_reset(ctx, str(body.email), _address(request))
    response = json_response(ResetAccepted(), status_code=202)
    if job is not None:  # detached once the answer is out: its cost is not in the timing
        response.background = BackgroundTask(
            ctx.jobs.start_after_response, "password-reset-mail", job
        )
    return response


@documented(
    Doc(
        "Set a new password with a reset token",
        {204: None},
        body=PasswordResetConfirm,
        errors=(400, 429),
        auth=False,
    )
)
async def confirm_password_reset(request: Request) -> Response:
    body = await parse_body(request, PasswordResetConfirm)
    await service.confirm_password_reset(app_context(request), body, _address(request))
    return Response(status_code=204)


routes = [
    Route("/", register, methods=["POST"], name="register-new-user"),
    Route("/login/token/", login, methods=["POST"], name="login-email-and-password"),
    Route("/me/", me, methods=["GET"], name="get-current-user"),
    Route("/me/", delete_me, methods=["DELETE"], name="delete-current-user"),
    Route("/token/refresh/", refresh_token, methods=["POST"], name="refresh-token"),
    Route("/logout/", logout, methods=["POST"], name="logout"),
    Route("/me/password/", change_password, methods=["PUT"], name="change-password"),
    Route(
        "/password-reset/", request_password_reset, methods=["POST"], name="request-password-reset"
    ),
    Route(
        "/password-reset/confirm/",
        confirm_password_reset,
        methods=["POST"],
        name="confirm-password-reset",
    ),
]
