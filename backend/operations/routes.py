"""Operator and client-developer endpoints (no `/api` prefix): `/metrics`, `/openapi.json`
and `/docs` (Swagger UI served from the swagger-ui-py package: works offline)."""

from __future__ import annotations

import base64
import hashlib
import hmac
from pathlib import Path

import swagger_ui
from starlette.requests import Request
from starlette.responses import FileResponse, HTMLResponse, Response

from backend.core.context import app_context
from backend.core.errors import NotFound, Unauthorized
from backend.core.routing import Routes

routes = Routes()
SWAGGER_STATIC = Path(swagger_ui.__file__).resolve().parent / "static"
# Served by name from this fixed set (no path from the request ever reaches the filesystem).
SWAGGER_FILES = {file.name: file for file in SWAGGER_STATIC.iterdir() if file.is_file()}
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


@routes.get("/metrics", "metrics", None)
async def metrics(request: Request) -> Response:
    ctx = app_context(request)
    token = ctx.settings.metrics_token
    if token is not None:
        expected = f"Bearer {token.get_secret_value()}"
        given = request.headers.get("authorization", "")
        if not hmac.compare_digest(given.encode(), expected.encode()):
            raise Unauthorized("A valid metrics token is required.")
    return Response(ctx.metrics.render(), media_type=PROMETHEUS_TEXT)


@routes.get("/openapi.json", "openapi", None)
async def openapi(request: Request) -> Response:
    return Response(app_context(request).openapi, media_type="application/json")


@routes.get("/docs", "docs", None)
async def docs(request: Request) -> Response:
    return HTMLResponse(
        DOCS_PAGE.replace("{init}", DOCS_INIT), headers={"Content-Security-Policy": DOCS_CSP}
    )


@routes.get("/docs/static/{name}", "docs-static", None)
async def docs_static(request: Request) -> Response:
    file = SWAGGER_FILES.get(request.path_params["name"])
    if file is None:
        raise NotFound("Not Found")
    return FileResponse(file)
