"""Pure ASGI middleware (no BaseHTTPMiddleware: it would run handlers in another task and
break task-local transactions): request id + access log + last-resort 500, and limits."""

from __future__ import annotations

import asyncio
import logging
import re
import secrets
import time
from collections.abc import Callable
from typing import Protocol

from starlette.datastructures import Headers
from starlette.middleware.cors import CORSMiddleware
from starlette.requests import ClientDisconnect
from starlette.responses import Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from backend.core.db import request_wait_budget
from backend.core.errors import PayloadTooLarge
from backend.core.http import error_response
from backend.core.logging import request_id_var

access_logger = logging.getLogger("phresh.access")
error_logger = logging.getLogger("phresh.error")

MAX_BODY_BYTES = 1024 * 1024
# nginx's code for "the client closed the connection before the answer": not a server error.
CLIENT_CLOSED = 499
TOO_LARGE = "Request body too large (limit 1 MiB)."
_TOO_LARGE_BODY = b'{"detail":"' + TOO_LARGE.encode() + b'","code":"payload_too_large"}'
_VALID_REQUEST_ID = re.compile(r"^[A-Za-z0-9._-]{1,128}$")
_INVALID_HOST_BODY = b'{"detail":"Invalid host header.","code":"invalid_host"}'
# A JSON API needs no browser capability: nothing may load, frame or be sniffed from it.
API_CSP = "default-src 'none'; frame-ancestors 'none'; base-uri 'none'; form-action 'none'"
_ALWAYS = (
    (b"x-content-type-options", b"nosniff"),
    (b"referrer-policy", b"no-referrer"),
    (b"x-frame-options", b"DENY"),
)
# Swagger UI's own assets may be cached; every other response is per-user or live.
_CACHEABLE_PREFIX = "/docs/static/"


class RequestMetrics(Protocol):
    def request_started(self) -> None: ...

    def request_finished(self, route: str, scope: Scope, status: int, seconds: float) -> None: ...


async def send_json(
    send: Send, status: int, body: bytes, headers: list[tuple[bytes, bytes]]
) -> None:
    """Send a complete JSON response from middleware (outside Starlette's handlers)."""
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(body)).encode()),
                *headers,
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})


def security_headers(path: str, headers: list[tuple[bytes, bytes]]) -> list[tuple[bytes, bytes]]:
    """The headers every response carries, added to what the handler set (a handler's own
    Content-Security-Policy or Cache-Control wins: `/docs` sets a CSP for its page)."""
    present = {name.lower() for name, _ in headers}
    added = [header for header in _ALWAYS if header[0] not in present]
    if b"content-security-policy" not in present:
        added.append((b"content-security-policy", API_CSP.encode()))
    if b"cache-control" not in present and not path.startswith(_CACHEABLE_PREFIX):
        added.append((b"cache-control", b"no-store"))
    return [*headers, *added]


def host_allowed(scope: Scope, allowed: list[str]) -> bool:
    """`Host` matches an entry of ALLOWED_HOSTS (`*` any, `*.example.com` any subdomain)."""
    if not allowed or "*" in allowed:
        return True
    header = Headers(scope=scope).get("host", "").lower()
    ipv6 = header.startswith("[")  # [::1]:8000
    host = header[1:].partition("]")[0] if ipv6 else header.partition(":")[0]
    return any(
        host == entry or (entry.startswith("*.") and host.endswith(entry[1:])) for entry in allowed
    )


def _incoming_request_id(scope: Scope) -> str:
    for name, value in scope["headers"]:
        if name == b"x-request-id":
            candidate: str = value.decode("latin-1")
            if _VALID_REQUEST_ID.match(candidate):
                return candidate
            break
    return secrets.token_hex(16)  # 32 hex digits, as uuid4().hex, with less work


class RequestContextMiddleware:
    """Assigns X-Request-ID, writes one access-log line, turns any escaped error into JSON 500."""

    def __init__(
        self,
        app: ASGIApp,
        route_template: Callable[[Scope], str],
        metrics: RequestMetrics | None = None,
        allowed_hosts: list[str] | None = None,
    ) -> None:
        self.app = app
        self.route_template = route_template
        self.metrics = metrics
        self.allowed_hosts = [host.lower() for host in allowed_hosts or []]

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        request_id = _incoming_request_id(scope)
        token = request_id_var.set(request_id)
        started = time.perf_counter()
        status = 500
        response_started = False
        if self.metrics is not None:
            self.metrics.request_started()

        async def send_with_id(message: Message) -> None:
            nonlocal status, response_started
            if message["type"] == "http.response.start":
                status = message["status"]
                response_started = True
                message["headers"] = security_headers(
                    scope["path"],
                    [*message.get("headers", []), (b"x-request-id", request_id.encode())],
                )
            await send(message)

        try:
            if not host_allowed(scope, self.allowed_hosts):
                await send_json(send_with_id, 400, _INVALID_HOST_BODY, [])
                return
            await self.app(scope, receive, send_with_id)
        except ClientDisconnect:
            # The client hung up before its body was read: nobody to answer, nothing wrong.
            status = CLIENT_CLOSED
            access_logger.info("client disconnected before the request body was read")
        except Exception:
            error_logger.exception(
                "unhandled error while serving %s %s", scope["method"], scope["path"]
            )
            if response_started:
                raise
            status = 500
            await send_json(
                send,
                500,
                b'{"detail":"Internal Server Error","code":"internal_error"}',
                security_headers(scope["path"], [(b"x-request-id", request_id.encode())]),
            )
        finally:
            elapsed = time.perf_counter() - started
            route = self.route_template(scope)
            if access_logger.isEnabledFor(logging.INFO):
                access_logger.info(
                    "%s %s %d",
                    scope["method"],
                    route,
                    status,
                    extra={
                        "method": scope["method"],
                        "route": route,
                        "status": status,
                        "duration_ms": round(elapsed * 1000, 2),
                    },
                )
            if self.metrics is not None:
                self.metrics.request_finished(route, scope, status, elapsed)
            request_id_var.reset(token)


class LimitsMiddleware:
    """Caps request bodies at 1 MiB (413) and each request at a deadline (503)."""

    def __init__(
        self, app: ASGIApp, timeout_seconds: float, max_body_bytes: int = MAX_BODY_BYTES
    ) -> None:
        self.app = app
        self.timeout_seconds = timeout_seconds
        self.max_body_bytes = max_body_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        for name, value in scope["headers"]:
            if name == b"content-length" and value.isdigit() and int(value) > self.max_body_bytes:
                await send_json(send, 413, _TOO_LARGE_BODY, [])
                return
        received = 0

        async def limited_receive() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > self.max_body_bytes:
                    raise PayloadTooLarge(TOO_LARGE)
            return message

        response_started = False

        async def tracking_send(message: Message) -> None:
            nonlocal response_started
            response_started = response_started or message["type"] == "http.response.start"
            await send(message)

        try:
            with request_wait_budget():
                async with asyncio.timeout(self.timeout_seconds):
                    await self.app(scope, limited_receive, tracking_send)
        except TimeoutError:
            if response_started:
                raise
            await send_json(
                send,
                503,
                b'{"detail":"The request took too long. Please retry.","code":"request_timeout"}',
                [(b"retry-after", b"1")],
            )


class JSONCORSMiddleware(CORSMiddleware):
    """Starlette's CORS middleware, with its refusal of a preflight (400 text/plain) as JSON
    like every other error."""

    def preflight_response(self, request_headers: Headers) -> Response:
        response = super().preflight_response(request_headers)
        if response.status_code != 400:
            return response
        detail = bytes(response.body).decode() + "."
        headers = {
            name: value
            for name, value in response.headers.items()
            if name not in {"content-type", "content-length"}
        }
        return error_response(400, detail, "cors_rejected", headers)
