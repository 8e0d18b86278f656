"""Operator and client-developer endpoints (no `/api` prefix): `/metrics`, `/openapi.json`
and `/docs` (Swagger UI served from the swagger-ui-py package: works offline)."""

from __future__ import annotations

import base64
import hashlib
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
  <script>{init}</script>
</body>
</html>
"""
DOCS_INIT = """
    window.ui = SwaggerUIBundle({
      url: "/openapi.json",
      dom_id: "#swagger-ui",
      deepLinking: true,
      persistAuthorization: true,
    });
"""
# The page runs only its own assets and the one inline script above (allowed by its hash);
# Swagger UI styles elements inline. Nothing may frame it.
DOCS_CSP = (
    "default-src 'none'; script-src 'self' "
    f"'sha256-{base64.b64encode(hashlib.sha256(DOCS_INIT.encode()).digest()).decode()}'; "
    "style-src 'self' 'unsafe-inline'; img-src 'self' data:; connect-src 'self'; "
    "frame-ancestors 'none'; base-uri 'none'; form-action 'none'"
)


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
    return HTMLResponse(
        DOCS_PAGE.replace("{init}", DOCS_INIT), headers={"Content-Security-Policy": DOCS_CSP}
    )


routes = [
    Route("/metrics", metrics, methods=["GET"], name="metrics", include_in_schema=False),
    Route("/openapi.json", openapi, methods=["GET"], name="openapi", include_in_schema=False),
    Route("/docs", docs, methods=["GET"], name="docs", include_in_schema=False),
    Mount("/docs/static", app=StaticFiles(directory=SWAGGER_STATIC), name="docs-static"),
]
