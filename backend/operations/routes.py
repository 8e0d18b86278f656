"""Operator and client-developer endpoints (no `/api` prefix): `/metrics`, `/openapi.json`
and `/docs` (Swagger UI served from the swagger-ui-py package: works offline)."""

from __future__ import annotations

import hmac
from pathlib import Path

import swagger_ui
from starlette.requests import Request
from starlette.responses import HTMLResponse, Response
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles

from backend.core.context import app_context
from backend.core.errors import Unauthorized

SWAGGER_STATIC = Path(swagger_ui.__file__).resolve().parent / "static"
PROMETHEUS_TEXT = "text/plain; version=0.0.4; charset=utf-8"

DOCS_PAGE = """<!doctype html>
<html lang="en">
<head>
  <meta charset="utf-8">
  <title>Phresh API</title>
  <link rel="stylesheet" href="/docs/static/swagger-ui.css">
  <link rel="icon" type="image/png" href="/docs/static/favicon-32x32.png">
</head>
<body>
  <div id="swagger-ui"></div>
  <script src="/docs/static/swagger-ui-bundle.js"></script>
  <script>
    window.ui = SwaggerUIBundle({
      url: "/openapi.json",
      dom_id: "#swagger-ui",
      deepLinking: true,
      persistAuthorization: true,
    });
  </script>
</body>
</html>
"""


async def metrics(request: Request) -> Response:
    ctx = app_context(request)
    token = ctx.settings.metrics_token
    if token is not None:
        expected = f"Bearer {token.get_secret_value()}"
        given = request.headers.get("authorization", "")
        if not hmac.compare_digest(given.encode(), expected.encode()):
            raise Unauthorized("A valid metrics token is required.")
    return Response(ctx.metrics.render(), media_type=PROMETHEUS_TEXT)


async def openapi(request: Request) -> Response:
    return Response(app_context(request).openapi, media_type="application/json")


async def docs(request: Request) -> Response:
    return HTMLResponse(DOCS_PAGE)


routes = [
    Route("/metrics", metrics, methods=["GET"], name="metrics", include_in_schema=False),
    Route("/openapi.json", openapi, methods=["GET"], name="openapi", include_in_schema=False),
    Route("/docs", docs, methods=["GET"], name="docs", include_in_schema=False),
    Mount("/docs/static", app=StaticFiles(directory=SWAGGER_STATIC), name="docs-static"),
]
