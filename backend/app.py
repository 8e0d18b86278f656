"""The application factory: URL map as data, middleware, exception handlers, lifespan."""

from __future__ import annotations

import logging
import time
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.types import ASGIApp, Scope

from backend.cleanings.routes import routes as cleaning_routes
from backend.config import Settings
from backend.core.context import AppContext
from backend.core.db import Database, DatabaseOptions, IntegrityError, InvalidInput
from backend.core.errors import HTTPError
from backend.core.http import error_response
from backend.core.jobs import BackgroundJobs
from backend.core.logging import configure_logging
from backend.core.mail import LoggingOutbox, Outbox, SMTPOutbox, SMTPSettings, UnconfiguredOutbox
from backend.core.metrics import Metrics
from backend.core.middleware import JSONCORSMiddleware, LimitsMiddleware, RequestContextMiddleware
from backend.core.openapi import openapi_json
from backend.core.replica import PublicReads
from backend.core.routing import App, Operation, Router, Routes
from backend.core.schema import expected_revision
from backend.core.security import Argon2Parameters, Clock, Passwords, Tokens
from backend.evaluations.routes import routes as evaluation_routes
from backend.feed.routes import routes as feed_routes
from backend.health.routes import routes as health_routes
from backend.offers.routes import routes as offer_routes
from backend.operations.routes import routes as operation_routes
from backend.profiles.routes import routes as profile_routes
from backend.users.queries import CALLER_STILL_VALID, get_current_user
from backend.users.routes import routes as user_routes

logger = logging.getLogger("phresh.app")

UNMATCHED_ROUTE = "<unmatched>"  # the route label of a 404 (never the raw path)
API_VERSION = "1.0.0"


def url_map() -> list[Routes]:
    """Every domain's routes (each declares its own prefix)."""
    return [
        user_routes,
        evaluation_routes,
        profile_routes,
        cleaning_routes,
        offer_routes,
        feed_routes,
        health_routes,
        operation_routes,
    ]


def operations(groups: list[Routes]) -> list[Operation]:
    return [operation for group in groups for operation in group.operations]


def database_from_settings(settings: Settings, url: str | None = None) -> Database:
    """The primary (or, with `url`, another server such as the replica) with the pool and
    timeouts the settings give."""
    return Database(
        url or settings.dsn,
        DatabaseOptions(
            min_size=settings.db_pool_min_size,
            max_size=settings.db_pool_max_size,
            warm_size=settings.db_pool_warm_size,
            connect_timeout=settings.db_connect_timeout_seconds,
            acquire_timeout=settings.db_pool_acquire_timeout_seconds,
            statement_timeout_ms=settings.db_statement_timeout_ms,
            lock_timeout_ms=settings.db_lock_timeout_ms,
            idle_in_transaction_timeout_ms=settings.db_idle_in_transaction_timeout_ms,
            statement_cache_size=settings.db_statement_cache_size,
            behind_pgbouncer=settings.db_pooler == "pgbouncer",
            refuse_superuser=settings.environment == "production",
        ),
    )


def outbox_from_settings(settings: Settings) -> Outbox:
    if settings.smtp_host:
        return SMTPOutbox(
            SMTPSettings(
                host=settings.smtp_host,
                port=settings.smtp_port,
                username=settings.smtp_username,
                password=settings.smtp_password.get_secret_value()
                if settings.smtp_password
                else None,
                sender=settings.smtp_from,
                starttls=settings.smtp_starttls,
            )
        )
    if settings.environment == "production":
        return UnconfiguredOutbox()
    return LoggingOutbox(folder=Path(settings.mail_outbox_dir))


# -- error rendering -------------------------------------------------------------------


def handle_http_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, HTTPError)
    return error_response(exc.status_code, exc.detail, exc.code, exc.headers)


def handle_unmapped_integrity_error(request: Request, exc: Exception) -> Response:
    """A constraint a service did not map: the request conflicts with the current state."""
    assert isinstance(exc, IntegrityError)
    logger.warning("unmapped constraint violation: %s", exc.constraint)
    return error_response(
        409, "The request conflicts with the current state of the resource.", "conflict"
    )


def handle_invalid_input(request: Request, exc: Exception) -> Response:
    """A value PostgreSQL refused that validation let through (a NUL character in a string,
    a number out of range): still the client's input, so 422 in the usual shape."""
    detail = [
        {
            "loc": ["body"],
            "msg": "A value in the request cannot be stored (a NUL character, or out of range).",
            "type": "value_error",
        }
    ]
    return error_response(422, detail, "validation_error")


# -- factory ---------------------------------------------------------------------------


def create_app(
    settings: Settings,
    database: Database | None = None,
    *,
    clock: Clock = time.time,
    outbox: Outbox | None = None,
    passwords: Passwords | None = None,
) -> App:
    """Build the ASGI app. Tests pass their own database, clock, outbox or hasher."""
    configure_logging(settings.log_level)
    db = database or database_from_settings(settings)
    replica = settings.database_replica_url
    reads = PublicReads(
        db,
        database_from_settings(settings, replica) if replica else None,
        max_lag=settings.replica_max_lag_seconds,
    )
    served = operations(url_map())
    metrics = Metrics(db, reads)
    ctx = AppContext(
        settings=settings,
        db=db,
        reads=reads,
        passwords=passwords
        or Passwords(
            Argon2Parameters(
                time_cost=settings.argon2_time_cost,
                memory_cost_kib=settings.argon2_memory_cost_kib,
                parallelism=settings.argon2_parallelism,
            )
        ),
        tokens=Tokens(
            settings.signing_keys,
            access_ttl_seconds=settings.access_token_expire_minutes * 60,
            leeway_seconds=settings.token_clock_leeway_seconds,
            clock=clock,
        ),
        outbox=outbox or outbox_from_settings(settings),
        clock=clock,
        metrics=metrics,
        jobs=BackgroundJobs(),
        openapi=openapi_json(served, title="Phresh", version=API_VERSION),
        schema_revision=expected_revision(),
        load_current_user=get_current_user,
        caller_still_valid=CALLER_STILL_VALID,
    )

    @asynccontextmanager
    async def lifespan(app: App) -> AsyncIterator[dict[str, Any]]:
        await db.connect()  # lazy: never waits for PostgreSQL
        await reads.start()
        await metrics.start()
        try:
            yield {"ctx": ctx}
        finally:
            await ctx.jobs.drain()
            await reads.stop()
            await db.disconnect()
            await metrics.stop()

    def route_template(scope: Scope) -> str:
        route = scope.get("route")
        return route.template if route is not None else UNMATCHED_ROUTE

    middleware: list[Callable[[ASGIApp], ASGIApp]] = [
        lambda app: RequestContextMiddleware(
            app,
            route_template=route_template,
            metrics=metrics,
            allowed_hosts=settings.allowed_hosts,
        ),
        lambda app: LimitsMiddleware(app, timeout_seconds=settings.request_timeout_seconds),
    ]
    if settings.allowed_origins:
        middleware.insert(
            1,
            lambda app: JSONCORSMiddleware(
                app,
                allow_origins=settings.allowed_origins,
                allow_methods=["GET", "POST", "PUT", "DELETE", "OPTIONS"],
                allow_headers=["Authorization", "Content-Type", "X-Request-ID"],
                expose_headers=["X-Request-ID", "Link", "Retry-After"],
            ),
        )
    router = Router(
        served,
        {
            HTTPError: handle_http_error,
            IntegrityError: handle_unmapped_integrity_error,
            InvalidInput: handle_invalid_input,
        },
    )
    app = App(router, middleware, lifespan)
    app.state.ctx = ctx  # for tests and scripts that build the app without serving it
    return app
