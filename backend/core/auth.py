"""Authentication: the one way to know who an operation's caller is (core/routing.py calls
it for every operation whose Doc has `auth`).

Core defines who the caller is (`CurrentUser`) and how authentication goes; the users domain
provides the lookup (`AppContext.load_current_user`, wired by `create_app`), so core imports
no domain package."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Protocol, TypeVar

from starlette.requests import Request

from backend.core.context import app_context
from backend.core.errors import Unauthorized

if TYPE_CHECKING:
    from backend.core.db import Database

NOT_AUTHENTICATED = "Not authenticated."
INVALID_TOKEN = "Could not validate token credentials."
INACTIVE_USER = "Not an active user."


@dataclass(frozen=True, slots=True)
class CurrentUser:
    """The caller, as authentication loads them: enough for the token check and for most
    handlers. A response that shows the user loads the rest itself."""

    id: int
    username: str
    is_active: bool
    token_version: int


class Account(Protocol):
    """What the token check reads from whatever a loader returns."""

    @property
    def id(self) -> int: ...
    @property
    def is_active(self) -> bool: ...
    @property
    def token_version(self) -> int: ...


A = TypeVar("A", bound=Account)
A_co = TypeVar("A_co", bound=Account, covariant=True)


class AccountLoader(Protocol[A_co]):
    """The account behind a token, unless its login session (`family_id`) was ended."""

    async def __call__(
        self, db: Database, *, user_id: int, family_id: str | None
    ) -> A_co | None: ...


CurrentUserLoader = AccountLoader[CurrentUser]


async def authenticate(request: Request, load: AccountLoader[A]) -> A:
    """Verify the bearer token and load its account with `load` (one primary-key lookup
    that also checks the token's login session was not ended), or raise 401."""
    scheme, _, token = request.headers.get("authorization", "").partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise Unauthorized(NOT_AUTHENTICATED)
    ctx = app_context(request)
    claims = ctx.tokens.read_access(token.strip())
    if claims is None:
        raise Unauthorized(INVALID_TOKEN, code="invalid_token")
    user = await load(ctx.db, user_id=claims.user_id, family_id=claims.family_id)
    if user is None or user.token_version != claims.token_version:
        raise Unauthorized(INVALID_TOKEN, code="invalid_token")
    if not user.is_active:
        raise Unauthorized(INACTIVE_USER, code="inactive_user")
    return user


async def current_user(request: Request) -> CurrentUser:
    return await authenticate(request, app_context(request).load_current_user)
