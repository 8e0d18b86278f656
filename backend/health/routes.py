"""Probes: liveness never touches the database; readiness runs `SELECT 1` within 1 s and
checks that the schema is at the revision this code expects."""

from __future__ import annotations

import asyncio

from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from backend.core.context import app_context
from backend.core.errors import DatabaseUnavailable
from backend.core.models import PublicModel
from backend.core.openapi import Doc
from backend.core.routing import Routes
from backend.health.queries import get_schema_revision

routes = Routes("/health", namespace="health")
READY_TIMEOUT_SECONDS = 1.0


class ProbeStatus(PublicModel):
    status: str
    database: str | None = None
    detail: str | None = None
    schema_revision: str | None = None
    expected_revision: str | None = None
    replica: str | None = None  # "fresh", "behind" or "down" (the primary then serves reads)
    replica_lag_seconds: float | None = None


def _not_ready(detail: str, **extra: str | None) -> Response:
    body = ProbeStatus(status="unavailable", detail=detail, **extra)
    return JSONResponse(
        body.model_dump(exclude_none=True), status_code=503, headers={"Retry-After": "1"}
    )


@routes.get(
    "/live",
    "live",
    Doc("Liveness: the process answers", {200: ProbeStatus}, auth=False, database=False),
)
async def live(request: Request) -> Response:
    return JSONResponse({"status": "ok"})


@routes.get(
    "/ready",
    "ready",
    Doc(
        "Readiness: SELECT 1 within 1 s, and the schema at the expected revision",
        {200: ProbeStatus, 503: ProbeStatus},
        auth=False,
    ),
)
async def ready(request: Request) -> Response:
    ctx = app_context(request)
    try:
        await ctx.db.ping(timeout=READY_TIMEOUT_SECONDS)
        async with asyncio.timeout(READY_TIMEOUT_SECONDS):
            revision = await get_schema_revision(ctx.db)
    except (DatabaseUnavailable, TimeoutError):
        return _not_ready("The database did not answer SELECT 1 within 1 s.")
    if revision != ctx.schema_revision:
        return _not_ready(
            "The database schema is not at the revision this code expects: "
            "run `alembic upgrade head`.",
            schema_revision=revision,
            expected_revision=ctx.schema_revision,
        )
    replica, lag = ctx.reads.state()  # never makes the instance unready: the primary serves
    body = ProbeStatus(
        status="ok",
        database="ok",
        schema_revision=revision,
        replica=None if replica == "none" else replica,
        replica_lag_seconds=lag,
    )
    return JSONResponse(body.model_dump(exclude_none=True))
