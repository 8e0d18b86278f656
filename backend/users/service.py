"""Use-cases of users and auth: each spans several queries and owns its transaction.

Like every service, each takes `db` first, then keyword arguments: its inputs and the
collaborators it uses (passwords, tokens, outbox, settings), never the whole app context."""

from __future__ import annotations

import uuid
from logging import WARNING
from typing import NoReturn

from backend.config import Settings
from backend.core.auth import CurrentUser
from backend.core.db import Database, IntegrityError
from backend.core.errors import BadRequest, TooManyRequests, Unauthorized
from backend.core.jobs import Job
from backend.core.logging import security_event
from backend.core.mail import Mail, Outbox
from backend.core.security import Passwords, Tokens
from backend.users import queries
from backend.users.models import (
    AccessToken,
    LoginForm,
    PasswordResetConfirm,
    PasswordUpdate,
    TokenPair,
    UserCreate,
    UserPublic,
)
from backend.users.passwords import refuse_context
from backend.users.ratelimit import RateLimiter, bucket

EMAIL_TAKEN = "That email is already taken. Login with that email or register with another one."
USERNAME_TAKEN = "That username is already taken. Please try another one."
LOGIN_FAILED = "Authentication was unsuccessful."
INVALID_REFRESH_TOKEN = "Invalid or expired refresh token."
WRONG_PASSWORD = "Current password is incorrect."
INVALID_RESET_TOKEN = "Invalid or expired reset token."

_TAKEN = {"users_email_lower_key": EMAIL_TAKEN, "users_username_lower_key": USERNAME_TAKEN}


async def _count_auth_request(db: Database, settings: Settings, address: str) -> None:
    """Every request that costs an Argon2 hash or sends mail (register, login, reset and its
    confirmation) counts against one per-address limit, shared by all instances."""
    try:
        await RateLimiter(db).hit(
            bucket("auth-address", address),
            limit=settings.auth_rate_limit_per_address,
            seconds=settings.auth_rate_limit_window_seconds,
        )
    except TooManyRequests:
        security_event("address_throttled", outcome="refused", level=WARNING, client=address)
        raise


async def register(
    db: Database,
    *,
    passwords: Passwords,
    tokens: Tokens,
    settings: Settings,
    new_user: UserCreate,
    address: str,
) -> UserPublic:
    """Create the user and their empty profile in one transaction; return them with an
    access token. A taken email or username is caught by its unique index (race-proof)."""
    await _count_auth_request(db, settings, address)
    refuse_context(
        new_user.password,
        username=new_user.username,
        email=str(new_user.email),
        loc=["body", "new_user", "password"],
    )
    password_hash = await passwords.hash(new_user.password)
    try:
        async with db.transaction():
            user_id = await queries.create_user(
                db,
                username=new_user.username,
                email=str(new_user.email),
                password=password_hash,
            )
            await queries.create_profile_for_user(db, user_id=user_id)
            user = await queries.get_user_by_id(db, user_id=user_id)
    except IntegrityError as error:
        if error.constraint in _TAKEN:
            raise BadRequest(_TAKEN[error.constraint], code="taken") from None
        raise
    assert user is not None  # created in this very transaction
    security_event("registered", outcome="succeeded", user_id=user.id, client=address)
    token = tokens.issue_access(user_id=user.id, token_version=user.token_version)
    return user.model_copy(update={"access_token": AccessToken(access_token=token)})


async def login(
    db: Database,
    *,
    passwords: Passwords,
    tokens: Tokens,
    settings: Settings,
    form: LoginForm,
    address: str,
) -> TokenPair:
    """Email + password → a new session. Rate-limited per address, and per
    (account, address) on failures, so nobody can lock a victim out from elsewhere."""
    await _count_auth_request(db, settings, address)
    limiter = RateLimiter(db)
    failures = bucket("login-failures", form.username.lower(), address)
    window = settings.login_rate_limit_window_seconds
    try:
        await limiter.check(failures, limit=settings.login_rate_limit_per_account, seconds=window)
    except TooManyRequests:
        security_event("login_locked_out", outcome="refused", level=WARNING, client=address)
        raise

    credentials = await queries.get_user_credentials_by_email(db, email=form.username)
    if credentials is None:
        await passwords.verify_nothing(form.password)
        verified = False
    else:
        verified = await passwords.verify(credentials.password, form.password)
    if credentials is None or not verified or not credentials.is_active:
        await limiter.record(failures, seconds=window)
        security_event(
            "login",
            outcome="failed",
            level=WARNING,
            user_id=credentials.id if credentials else None,
            reason="unknown_email" if credentials is None else "wrong_password_or_inactive",
            client=address,
        )
        raise Unauthorized(LOGIN_FAILED, code="login_failed")

    await limiter.clear(failures)
    security_event("login", outcome="succeeded", user_id=credentials.id, client=address)
    if passwords.needs_rehash(credentials.password):
        new_hash = await passwords.hash(form.password)
        await queries.update_password_hash(db, user_id=credentials.id, password=new_hash)
    return await _start_session(
        db,
        tokens=tokens,
        settings=settings,
        user_id=credentials.id,
        token_version=credentials.token_version,
        family_id=uuid.uuid4(),
    )


async def _start_session(
    db: Database,
    *,
    tokens: Tokens,
    settings: Settings,
    user_id: int,
    token_version: int,
    family_id: uuid.UUID,
) -> TokenPair:
    refresh_token, token_hash = tokens.issue_random("refresh")
    await queries.create_refresh_token(
        db,
        user_id=user_id,
        family_id=family_id,
        token_hash=token_hash,
        expire_days=settings.refresh_token_expire_days,
    )
    access_token = tokens.issue_access(
        user_id=user_id, token_version=token_version, family_id=family_id
    )
    return TokenPair(
        access_token=access_token,
        refresh_token=refresh_token,
        expires_in=tokens.access_ttl_seconds,
    )


def _refresh_token_hash(tokens: Tokens, refresh_token: str) -> bytes:
    token_hash = tokens.read_random("refresh", refresh_token)
    if token_hash is None:
        raise Unauthorized(INVALID_REFRESH_TOKEN, code="invalid_refresh_token")
    return token_hash


async def _reject_refresh_token(db: Database, token_hash: bytes) -> NoReturn:
    """A token that is not live. If it is one of ours (used, revoked, expired), this may be
    a stolen token replayed: revoke its whole family (every token rotated from the same
    login), then 401. Runs outside any transaction so the revocation sticks."""
    family_id = await queries.get_refresh_token_family(db, token_hash=token_hash)
    if family_id is not None:
        await queries.revoke_refresh_token_family(db, family_id=family_id)
        security_event(
            "refresh_token_reuse", outcome="family_revoked", level=WARNING, family=str(family_id)
        )
    raise Unauthorized(INVALID_REFRESH_TOKEN, code="invalid_refresh_token")


async def refresh(  # noqa: RET503
    db: Database, *, tokens: Tokens, settings: Settings, refresh_token: str
) -> TokenPair:
    """Rotate: the presented token is used up (atomically: of two concurrent refreshes one
    wins) and a new pair of the same family is issued, in one transaction."""
    token_hash = _refresh_token_hash(tokens, refresh_token)
    async with db.transaction():
        used = await queries.use_refresh_token(db, token_hash=token_hash)
        if used is not None:
            user_id, family_id = used
            user = await queries.get_user_by_id(db, user_id=user_id)
            if user is not None and user.is_active:
                return await _start_session(
                    db,
                    tokens=tokens,
                    settings=settings,
                    user_id=user.id,
                    token_version=user.token_version,
                    family_id=family_id,
                )
    await _reject_refresh_token(db, token_hash)


async def logout(db: Database, *, tokens: Tokens, refresh_token: str) -> None:
    """End the session: the token and everything rotated from it stop working."""
    token_hash = _refresh_token_hash(tokens, refresh_token)
    used = await queries.use_refresh_token(db, token_hash=token_hash)
    if used is None:
        await _reject_refresh_token(db, token_hash)
    await queries.revoke_refresh_token_family(db, family_id=used[1])
    security_event("logout", outcome="succeeded", user_id=used[0], family=str(used[1]))


async def change_password(
    db: Database, *, passwords: Passwords, user: CurrentUser, update: PasswordUpdate
) -> None:
    """Check the current password, store the new one, end every session and access token."""
    account = await queries.get_password_check_by_user_id(db, user_id=user.id)
    if account is None or not await passwords.verify(account.password, update.current_password):
        security_event("password_change", outcome="failed", level=WARNING, user_id=user.id)
        raise BadRequest(WRONG_PASSWORD, code="wrong_password")
    refuse_context(
        update.new_password,
        username=account.username,
        email=account.email,
        loc=["body", "password_update", "new_password"],
    )
    new_hash = await passwords.hash(update.new_password)
    async with db.transaction():
        await queries.change_password(db, user_id=user.id, password=new_hash)
        await queries.revoke_refresh_tokens_for_user(db, user_id=user.id)
    security_event("password_change", outcome="succeeded", user_id=user.id)


async def delete_account(db: Database, *, user: CurrentUser) -> None:
    """One statement; the foreign keys cascade to everything the user owns."""
    await queries.delete_user(db, user_id=user.id)


async def request_password_reset(
    db: Database,
    *,
    tokens: Tokens,
    outbox: Outbox,
    settings: Settings,
    email: str,
    address: str,
) -> Job | None:
    """Mail a single-use reset link when the account exists; the caller answers 202 either
    way (no account enumeration). The response does the same work for a known and an
    unknown address (the per-address count and one indexed lookup); creating the token and
    sending the mail is the returned job, which the route starts only once its answer has
    been sent, so the answer's timing does not tell whether the account exists. Only the
    token's hash is stored."""
    await _count_auth_request(db, settings, address)
    user_id = await queries.get_user_id_by_email(db, email=email)
    security_event("password_reset_request", outcome="accepted", user_id=user_id, client=address)
    if user_id is None:
        return None
    return lambda: _send_reset_link(
        db, tokens=tokens, outbox=outbox, settings=settings, user_id=user_id, email=email
    )


async def _send_reset_link(
    db: Database, *, tokens: Tokens, outbox: Outbox, settings: Settings, user_id: int, email: str
) -> None:
    token, token_hash = tokens.issue_random("reset")
    await queries.create_password_reset_token(
        db,
        user_id=user_id,
        token_hash=token_hash,
        expire_minutes=settings.password_reset_expire_minutes,
    )
    link = settings.password_reset_url.replace("{token}", token)
    await outbox.send(
        Mail(
            to=email,
            subject="Reset your Phresh password",
            body=(
                "Someone asked to reset the password of your Phresh account.\n"
                f"If it was you, open this link within {settings.password_reset_expire_minutes}"
                f" minutes:\n\n{link}\n\nIf it was not, ignore this message.\n"
            ),
        )
    )


async def confirm_password_reset(
    db: Database,
    *,
    passwords: Passwords,
    tokens: Tokens,
    settings: Settings,
    confirm: PasswordResetConfirm,
    address: str,
) -> None:
    """Use the token up, set the new password and end every session, in one transaction."""
    await _count_auth_request(db, settings, address)
    token_hash = tokens.read_random("reset", confirm.token)
    if token_hash is None:
        security_event("password_reset", outcome="invalid_token", level=WARNING, client=address)
        raise BadRequest(INVALID_RESET_TOKEN, code="invalid_reset_token")
    new_hash = await passwords.hash(confirm.new_password)
    async with db.transaction():
        account = await queries.use_password_reset_token(db, token_hash=token_hash)
        if account is None:
            security_event("password_reset", outcome="invalid_token", level=WARNING, client=address)
            raise BadRequest(INVALID_RESET_TOKEN, code="invalid_reset_token")
        refuse_context(  # raising here rolls the use of the token back: it stays usable
            confirm.new_password,
            username=account.username,
            email=account.email,
            loc=["body", "new_password"],
        )
        await queries.change_password(db, user_id=account.id, password=new_hash)
        await queries.revoke_refresh_tokens_for_user(db, user_id=account.id)
    security_event("password_reset", outcome="succeeded", user_id=account.id, client=address)
