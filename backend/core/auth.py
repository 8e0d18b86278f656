"""Authentication: the one way to know who an operation's caller is (core/routing.py calls
it for every operation whose Doc has `auth`).

A request's caller is known in two steps. The bearer token's signature and expiry are
checked at once, in Python: a missing, malformed, tampered or expired token is a 401 before
anything else. Whether the token's account still accepts it (it exists and is active, its
password did not change since, the token's login session was not ended) is PostgreSQL's
to say, and the request's answer waits for it: the check rides along with the request's
first read, in the same statement (`ReadGuard`), or runs on its own where it cannot (a
write first, an empty read, an answer before any read). One statement where there were two
on most requests; the handler never sees a result the check has not passed.

Core defines who the caller is (`CurrentUser`) and how authentication goes; the users domain
provides the lookup and the check (`AppContext.load_current_user`, `caller_still_valid`,
wired by `create_app`), so core imports no domain package."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Protocol

from starlette.requests import Request

from backend.core.context import app_context
from backend.core.db import ReadGuard
from backend.core.errors import Unauthorized

if TYPE_CHECKING:
    from backend.core.db import Database
    from backend.core.security import AccessClaims

NOT_AUTHENTICATED = "Not authenticated."
INVALID_TOKEN = "Could not validate token credentials."
INACTIVE_USER = "Not an active user."


@dataclass(frozen=True, slots=True)
class CurrentUser:
    """The caller: the account of a well-signed, unexpired access token, which the request's
    answer waits to see still accepted (`authenticate`)."""

    id: int


@dataclass(frozen=True, slots=True)
class Account:
    """What the check on its own reads of the token's account."""

    id: int
    is_active: bool
    token_version: int


class AccountLoader(Protocol):
    """The account behind a token, unless its login session (`family_id`) was ended."""

    async def __call__(
        self, db: Database, *, user_id: int, family_id: str | None
    ) -> Account | None: ...


def admit(claims: AccessClaims, account: Account | None) -> None:
    """The rule the check applies, on its own; `caller_still_valid` is the same rule in SQL
    (without the reason, which only this one gives)."""
    if account is None or account.token_version != claims.token_version:
        raise Unauthorized(INVALID_TOKEN, code="invalid_token")
    if not account.is_active:
        raise Unauthorized(INACTIVE_USER, code="inactive_user")


def authenticate(request: Request) -> tuple[CurrentUser, ReadGuard]:
    """The caller of a request with a valid bearer token (else 401), and the check of their
    account that its answer waits for (`guarding_reads`, then `ReadGuard.settle`)."""
    scheme, _, token = request.headers.get("authorization", "").partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise Unauthorized(NOT_AUTHENTICATED)
    ctx = app_context(request)
    claims = ctx.tokens.read_access(token.strip())
    if claims is None:
        raise Unauthorized(INVALID_TOKEN, code="invalid_token")

    async def check() -> None:
        admit(
            claims,
            await ctx.load_current_user(ctx.db, user_id=claims.user_id, family_id=claims.family_id),
        )

    parameters = {
        "caller_id": claims.user_id,
        "caller_token_version": claims.token_version,
        "caller_session": claims.family_id,
    }
    return CurrentUser(claims.user_id), ReadGuard(ctx.db, ctx.caller_still_valid, parameters, check)
