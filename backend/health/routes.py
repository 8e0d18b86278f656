"""Probes: liveness never touches the database; readiness runs `SELECT 1` within 1 s."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from backend.core.context import app_context
from backend.core.errors import DatabaseUnavailable
from backend.core.models import PublicModel
from backend.core.openapi import Doc, documented

READY_TIMEOUT_SECONDS = 1.0


class ProbeStatus(PublicModel):
    status: str
    database: str | None = None


@documented(Doc("Liveness: the process answers", {200: ProbeStatus}, auth=False, database=False))
async def live(request: Request) -> Response:
    return JSONResponse({"status": "ok"})


@documented(Doc("Readiness: SELECT 1 within 1 s", {200: ProbeStatus}, auth=False))
async def ready(request: Request) -> Response:
    try:
        await app_context(request).db.ping(timeout=READY_TIMEOUT_SECONDS)
    except DatabaseUnavailable:
        return JSONResponse(
            {"status": "unavailable", "detail": "The database did not answer SELECT 1 within 1 s."},
            status_code=503,
            headers={"Retry-After": "1"},
        )
    return JSONResponse({"status": "ok", "database": "ok"})


routes = [
    Route("/live", live, methods=["GET"], name="live"),
    Route("/ready", ready, methods=["GET"], name="ready"),
]
