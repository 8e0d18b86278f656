"""The HTTP shell: JSON errors for every status, request ids, limits, redirects, CORS."""

from __future__ import annotations

import json
import logging
from collections.abc import AsyncIterator

import httpx
import pytest
from starlette.requests import Request
from starlette.responses import Response

from backend.config import Settings
from backend.core.routing import Operation
from backend.tests.conftest import FakeClock, build_app, client_for, make_settings, running

pytestmark = pytest.mark.anyio


async def test_unknown_route_is_json_404(client: httpx.AsyncClient) -> None:
    response = await client.get("/api/nothing-here/")
    assert response.status_code == 404
    assert response.json()["detail"] == "Not Found"


async def test_wrong_method_is_json_405(client: httpx.AsyncClient) -> None:
    response = await client.patch("/api/users/me/")
    assert response.status_code == 405
    assert response.json()["detail"] == "Method Not Allowed"


async def test_missing_trailing_slash_redirects_307(client: httpx.AsyncClient) -> None:
    response = await client.get("/api/users/me")
    assert response.status_code == 307
    assert response.headers["location"].endswith("/api/users/me/")


async def test_request_id_is_echoed_when_valid_and_generated_otherwise(
    client: httpx.AsyncClient,
) -> None:
    echoed = await client.get("/health/live", headers={"X-Request-ID": "abc.DEF_123-x"})
    assert echoed.headers["x-request-id"] == "abc.DEF_123-x"
    for bad in ["has space", "x" * 129, "semi;colon", ""]:
        generated = await client.get("/health/live", headers={"X-Request-ID": bad})
        assert generated.headers["x-request-id"] != bad
        assert 1 <= len(generated.headers["x-request-id"]) <= 128


async def test_access_log_line_has_route_template_status_and_request_id(
    client: httpx.AsyncClient, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.INFO, logger="phresh.access"):
        await client.get("/api/profiles/someone/", headers={"X-Request-ID": "trace-1"})
    record = next(r for r in caplog.records if r.name == "phresh.access")
    assert record.route == "/api/profiles/{username}/"  # type: ignore[attr-defined]
    assert record.status == 401  # type: ignore[attr-defined]
    assert record.method == "GET"  # type: ignore[attr-defined]
    assert record.duration_ms >= 0  # type: ignore[attr-defined]


async def test_body_over_1_mib_is_413(client: httpx.AsyncClient) -> None:
    big = b'{"new_user": "' + b"x" * (1024 * 1024) + b'"}'
    response = await client.post(
        "/api/users/", content=big, headers={"content-type": "application/json"}
    )
    assert response.status_code == 413
    assert "detail" in response.json()


async def test_streamed_body_over_1_mib_is_413(client: httpx.AsyncClient) -> None:
    async def chunks() -> AsyncIterator[
        bytes
    ]:  # no content-length: the limit is enforced while reading
        for _ in range(20):
            yield b"x" * 65536

    response = await client.post(
        "/api/users/", content=chunks(), headers={"content-type": "application/json"}
    )
    assert response.status_code == 413


@pytest.mark.parametrize("body", [b"{not json", b"", b"[]", b'"text"', b"null"])
async def test_malformed_or_wrong_json_is_422_never_500(
    client: httpx.AsyncClient, body: bytes
) -> None:
    response = await client.post(
        "/api/users/", content=body, headers={"content-type": "application/json"}
    )
    assert response.status_code == 422
    detail = response.json()["detail"]
    assert isinstance(detail, list)
    assert all({"loc", "msg", "type"} <= item.keys() for item in detail)


async def test_unhandled_error_is_json_500_logged_with_request_id(
    settings: Settings, clock: FakeClock, outbox, caplog: pytest.LogCaptureFixture
) -> None:
    async def explode(request: Request) -> Response:
        raise RuntimeError("SELECT secret FROM internals")

    application = build_app(settings, clock, outbox)
    application.router.add(Operation("GET", "/explode", "explode", explode, None))
    async with running(application) as app, client_for(app) as http:
        with caplog.at_level(logging.ERROR):
            response = await http.get("/explode", headers={"X-Request-ID": "boom-42"})
    assert response.status_code == 500
    assert response.json()["detail"] == "Internal Server Error"
    assert "secret" not in response.text
    assert response.headers["x-request-id"] == "boom-42"
    errors = [r for r in caplog.records if r.name == "phresh.error"]
    assert errors and errors[0].exc_info is not None
    from backend.core.logging import JSONFormatter

    line = json.loads(JSONFormatter().format(errors[0]))
    assert line["request_id"] == "boom-42"


async def test_cors_preflight_allows_configured_origins(
    db_url: str, clock: FakeClock, outbox
) -> None:
    settings = make_settings(
        db_url, cors_origins="https://app.example.com, https://admin.example.com"
    )
    async with running(build_app(settings, clock, outbox)) as app, client_for(app) as http:
        allowed = await http.options(
            "/api/users/me/",
            headers={"Origin": "https://app.example.com", "Access-Control-Request-Method": "GET"},
        )
        denied = await http.options(
            "/api/users/me/",
            headers={"Origin": "https://evil.example.com", "Access-Control-Request-Method": "GET"},
        )
    assert allowed.status_code == 200
    assert allowed.headers["access-control-allow-origin"] == "https://app.example.com"
    assert "access-control-allow-origin" not in denied.headers


@pytest.mark.parametrize(
    "case",
    [
        ("development", None, True),  # the tutorial frontend works out of the box
        ("development", "", False),  # an explicit empty list turns CORS off
        ("test", None, False),
        ("production", None, False),  # production allows only what it lists
        ("production", "http://localhost:3000", True),
    ],
)
async def test_cors_default_is_the_tutorial_frontend_in_development_only(
    db_url: str, clock: FakeClock, outbox, case: tuple[str, str | None, bool]
) -> None:
    environment, configured, allowed = case
    overrides: dict[str, str] = {"environment": environment}
    if environment == "production":  # a preflight never reaches the database
        overrides["secret_key"] = "p" * 48
        db_url = "postgresql://postgres@127.0.0.1:1/nowhere"
    if configured is not None:
        overrides["cors_origins"] = configured
    settings = make_settings(db_url, **overrides)
    async with running(build_app(settings, clock, outbox)) as app, client_for(app) as http:
        preflight = await http.options(
            "/api/users/me/",
            headers={
                "Origin": "http://localhost:3000",
                "Access-Control-Request-Method": "GET",
                "Access-Control-Request-Headers": "authorization",
            },
        )
    assert (preflight.status_code == 200) is allowed
    assert (
        preflight.headers.get("access-control-allow-origin") == "http://localhost:3000"
    ) is allowed


def test_production_refuses_a_wildcard_origin() -> None:
    url = "postgresql://postgres@127.0.0.1:1/nowhere"
    with pytest.raises(ValueError, match="CORS_ORIGINS must list"):
        make_settings(url, environment="production", secret_key="p" * 48, cors_origins="*")


async def test_liveness_never_touches_the_database(clock: FakeClock, outbox) -> None:
    settings = make_settings("postgresql://postgres@127.0.0.1:1/nowhere")
    async with running(build_app(settings, clock, outbox)) as app, client_for(app) as http:
        response = await http.get("/health/live")
    assert response.status_code == 200
    assert response.json() == {"status": "ok"}


async def test_a_client_that_hangs_up_is_a_499_not_a_500(
    app, caplog: pytest.LogCaptureFixture
) -> None:
    """The body never arrives (the client left): no error log, no 500 counted."""
    sent: list[dict[str, object]] = []

    async def receive() -> dict[str, object]:
        return {"type": "http.disconnect"}

    async def send(message: dict[str, object]) -> None:
        sent.append(message)

    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "POST",
        "scheme": "http",
        "path": "/api/users/",
        "raw_path": b"/api/users/",
        "query_string": b"",
        "root_path": "",
        "headers": [(b"host", b"testserver"), (b"content-type", b"application/json")],
        "client": ("127.0.0.1", 5000),
        "server": ("testserver", 80),
        "state": {"ctx": app.ctx},
    }
    with caplog.at_level(logging.INFO):
        await app.asgi(scope, receive, send)
    assert sent == []
    assert not [r for r in caplog.records if r.name == "phresh.error"]
    access = [r for r in caplog.records if r.name == "phresh.access" and hasattr(r, "status")]
    assert [r.status for r in access] == [499]
    metrics = app.ctx.metrics.render().decode()
    assert 'status="499"' in metrics
    assert 'status="500"' not in metrics
