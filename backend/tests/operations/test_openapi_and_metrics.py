"""OpenAPI document, offline docs, and Prometheus metrics (one process)."""

from __future__ import annotations

import httpx
import pytest
from openapi_spec_validator import validate
from prometheus_client import CollectorRegistry, Histogram

from backend.app import operations, url_map
from backend.config import Settings
from backend.core.mail import LoggingOutbox
from backend.core.metrics import BufferedHistogram
from backend.core.routing import Operation
from backend.tests.conftest import (
    FakeClock,
    RunningApp,
    build_app,
    client_for,
    make_settings,
    running,
)
from backend.tests.factories import create_cleaning, create_user

pytestmark = pytest.mark.anyio


def api_operations() -> list[Operation]:
    return [o for o in operations(url_map()) if o.template.startswith(("/api", "/health"))]


async def test_openapi_document_is_valid_and_covers_every_route(client: httpx.AsyncClient) -> None:
    response = await client.get("/openapi.json")
    assert response.status_code == 200
    document = response.json()
    validate(document)
    assert document["openapi"] == "3.1.0"
    for operation in api_operations():
        path, method = operation.template, operation.method
        assert method.lower() in document["paths"].get(path, {}), (method, path)
    operation_ids = [
        op["operationId"] for item in document["paths"].values() for op in item.values()
    ]
    assert len(operation_ids) == len(set(operation_ids))
    register = document["paths"]["/api/users/"]["post"]
    assert register["requestBody"]["content"]["application/json"]["schema"] == {
        "$ref": "#/components/schemas/UserRegisterBody"
    }
    assert "security" not in register
    me = document["paths"]["/api/users/me/"]["get"]
    assert me["security"] == [{"OAuth2PasswordBearer": []}]
    assert set(me["responses"]) >= {"200", "401", "503"}
    login = document["paths"]["/api/users/login/token/"]["post"]
    assert "application/x-www-form-urlencoded" in login["requestBody"]["content"]
    scheme = document["components"]["securitySchemes"]["OAuth2PasswordBearer"]
    assert scheme["flows"]["password"]["tokenUrl"] == "/api/users/login/token/"


async def test_docs_are_served_without_the_internet(client: httpx.AsyncClient) -> None:
    page = await client.get("/docs")
    assert page.status_code == 200
    assert "/docs/static/swagger-ui-bundle.js" in page.text
    assert "http" not in page.text.split("<body>")[1].replace("/openapi.json", "")
    bundle = await client.get("/docs/static/swagger-ui-bundle.js")
    assert bundle.status_code == 200
    assert len(bundle.content) > 100_000
    assert (await client.get("/docs/static/swagger-ui.css")).status_code == 200


def sample(text: str, name: str, **labels: str) -> float:
    """The value of one sample in Prometheus text exposition."""
    wanted = ",".join(f'{k}="{v}"' for k, v in sorted(labels.items()))
    for line in text.splitlines():
        if line.startswith("#") or " " not in line:
            continue
        key, value = line.rsplit(" ", 1)
        metric, _, raw_labels = key.partition("{")
        got = ",".join(sorted(raw_labels.rstrip("}").split(","))) if raw_labels else ""
        if metric == name and got == wanted:
            return float(value)
    raise AssertionError(f"{name}{{{wanted}}} not found")


async def test_metrics_count_requests_by_route_template(
    app: RunningApp, client: httpx.AsyncClient
) -> None:
    user = await create_user(app.ctx)
    cleaning = await create_cleaning(app.ctx, user)
    for _ in range(3):
        await client.get("/health/live")
    for _ in range(2):
        await client.get(f"/api/cleanings/{cleaning.id}/", headers=user.headers)
    await client.get("/api/cleanings/999999/", headers=user.headers)
    text = (await client.get("/metrics")).text
    assert (
        sample(text, "phresh_http_requests_total", route="/health/live", method="GET", status="200")
        == 3
    )
    route = "/api/cleanings/{cleaning_id}/"
    assert sample(text, "phresh_http_requests_total", route=route, method="GET", status="200") == 2
    assert sample(text, "phresh_http_requests_total", route=route, method="GET", status="404") == 1
    assert f"/api/cleanings/{cleaning.id}/" not in text
    assert (
        sample(
            text,
            "phresh_http_request_duration_seconds_count",
            route=route,
            method="GET",
            status="200",
        )
        == 2
    )
    assert sample(text, "phresh_db_query_duration_seconds_count", query="get_cleaning_by_id") >= 3
    assert sample(text, "phresh_http_requests_in_progress") == 1  # the scrape itself
    assert sample(text, "phresh_db_pool_connections_max") == 10
    assert "process_resident_memory_bytes" in text


def test_a_buffered_histogram_adds_up_to_what_observe_would_have_written() -> None:
    """Bucket edges included (a value equal to a bound is in that bucket, as `le` says), and
    nothing is written twice or lost between flushes."""
    registry = CollectorRegistry()
    direct = Histogram("direct", "d", buckets=(0.1, 1.0), registry=registry)
    buffered_child = Histogram("buffered", "b", buckets=(0.1, 1.0), registry=registry)
    buffered = BufferedHistogram(buffered_child)
    for batch in ([0.05, 0.1, 0.5], [1.0, 7.0], []):
        for value in batch:
            direct.observe(value)
            buffered.observe(value)
        buffered.flush()
    buffered.flush()

    def values(name: str) -> dict[str, float]:
        return {
            f"{s.name}{s.labels}": s.value
            for m in registry.collect()
            if m.name == name
            for s in m.samples
            if not s.name.endswith("_created")
        }

    renamed = {key.replace("buffered", "direct"): v for key, v in values("buffered").items()}
    assert renamed == values("direct")
    assert values("buffered")["buffered_count{}"] == 5


async def test_metrics_can_require_a_token(
    db_url: str, clock: FakeClock, outbox: LoggingOutbox
) -> None:
    settings: Settings = make_settings(db_url, metrics_token="scrape-secret")
    async with running(build_app(settings, clock, outbox)) as app, client_for(app) as http:
        assert (await http.get("/metrics")).status_code == 401
        assert (
            await http.get("/metrics", headers={"Authorization": "Bearer nope"})
        ).status_code == 401
        allowed = await http.get("/metrics", headers={"Authorization": "Bearer scrape-secret"})
        assert allowed.status_code == 200
        assert allowed.headers["content-type"].startswith("text/plain")
