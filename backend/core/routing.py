"""Routes declared once, and the lean router that serves them.

A handler is declared with its method, path, name and `Doc`; that one declaration drives
routing, authentication, parsing (path, query, body or form models, passed to the handler
as keyword arguments) and the OpenAPI document:

    routes = Routes("/api/cleanings")

    @routes.get("/{cleaning_id}/", "get-cleaning-by-id", Doc("A cleaning", ..., path=CleaningPath))
    async def get_cleaning(request: Request, user: CurrentUser, path: CleaningPath) -> Response:

The router matches a request with one dictionary lookup (paths without parameters) or a
few anchored regular expressions, then maps the errors handlers raise (`HTTPError` and
friends) to JSON responses. It replaces Starlette's Router, Mounts and exception layers,
which cost a regex per nested Mount, two exception-catching wrappers and a per-route
wrapper on every request; the app middleware (core/middleware.py) is unchanged.
"""

from __future__ import annotations

import inspect
import re
import traceback
from collections.abc import Awaitable, Callable, Mapping
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass, field
from typing import Any, TypeVar

from starlette.datastructures import State
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.types import ASGIApp, Receive, Scope, Send

from backend.core.auth import authenticate
from backend.core.db import InvalidInput, guarding_reads
from backend.core.errors import HTTPError, ServiceUnavailable
from backend.core.http import error_response, parse_body, parse_form, parse_path, parse_query
from backend.core.openapi import Doc

F = TypeVar("F", bound=Callable[..., Awaitable[Response]])
ErrorHandler = Callable[[Request, Exception], Response]

_PARAMETER = re.compile(r"\{([a-zA-Z_][a-zA-Z0-9_]*)\}")
# What a declared handler may receive besides `request`, and the Doc field that provides it.
_INPUTS = ("path", "query", "body", "form")


@dataclass(frozen=True, eq=False)
class Operation:
    """One method on one path template, and the handler that serves it."""

    method: str
    template: str  # the full path template, e.g. /api/cleanings/{cleaning_id}/
    name: str
    endpoint: Callable[[Request], Awaitable[Response]]  # parses, authenticates, calls
    doc: Doc | None  # None: not in the OpenAPI document (/docs, /metrics)
    tag: str = ""
    namespace: str = ""  # url_path_for("<namespace>:<name>"), as with Starlette's Mounts
    parameters: tuple[str, ...] = field(init=False, default=())

    def __post_init__(self) -> None:
        object.__setattr__(self, "parameters", tuple(_PARAMETER.findall(self.template)))


def _endpoint(doc: Doc | None, handler: Callable[..., Awaitable[Response]]) -> Any:
    """The request → response function for `handler`, from what `doc` declares."""
    if doc is None:
        return handler
    wanted = [name for name in _INPUTS if getattr(doc, name) is not None]
    expected = ["request", *(["user"] if doc.auth else []), *wanted]
    declared = list(inspect.signature(handler).parameters)
    if declared != expected:
        raise TypeError(f"{handler.__qualname__}{tuple(declared)}: its Doc gives {expected}")
    path_model, query_model, body_model, form_model = doc.path, doc.query, doc.body, doc.form

    async def serve(request: Request, inputs: dict[str, Any]) -> Response:
        if path_model is not None:
            inputs["path"] = parse_path(request, path_model)
        if query_model is not None:
            inputs["query"] = parse_query(request, query_model)
        if body_model is not None:
            inputs["body"] = await parse_body(request, body_model)
        elif form_model is not None:
            inputs["form"] = await parse_form(request, form_model)
        return await handler(request, **inputs)

    async def endpoint(request: Request) -> Response:
        if not doc.auth:
            return await serve(request, {})
        user, guard = authenticate(request)
        with guarding_reads(guard):
            try:
                response = await serve(request, {"user": user})
            except (HTTPError, InvalidInput) as error:
                if not isinstance(error, ServiceUnavailable):
                    await guard.settle()  # a caller who fails the check hears 401, not this
                raise
            await guard.settle()
        return response

    endpoint.__qualname__ = handler.__qualname__
    return endpoint


class Routes:
    """The operations of one domain, under one path prefix."""

    def __init__(self, prefix: str = "", *, namespace: str = "") -> None:
        self.prefix = prefix
        self.namespace = namespace
        self.tag = prefix.removeprefix("/api/").split("/")[0]  # the OpenAPI tag: the domain
        self.operations: list[Operation] = []

    def route(
        self,
        method: str,
        path: str,
        name: str,
        doc: Doc | None,
    ) -> Callable[[F], F]:
        """Declare `handler` for `method path`. With `doc.auth` it receives `user` (the
        caller: core/auth.py); then `path`, `query`, `body` or `form`: the models `doc`
        names, validated."""

        def declare(handler: F) -> F:
            self.operations.append(
                Operation(
                    method,
                    self.prefix + path,
                    name,
                    _endpoint(doc, handler),
                    doc,
                    self.tag or path.strip("/"),
                    self.namespace,
                )
            )
            return handler

        return declare

    def get(self, path: str, name: str, doc: Doc | None) -> Callable[[F], F]:
        return self.route("GET", path, name, doc)

    def post(self, path: str, name: str, doc: Doc | None) -> Callable[[F], F]:
        return self.route("POST", path, name, doc)

    def put(self, path: str, name: str, doc: Doc | None) -> Callable[[F], F]:
        return self.route("PUT", path, name, doc)

    def delete(self, path: str, name: str, doc: Doc | None) -> Callable[[F], F]:
        return self.route("DELETE", path, name, doc)


# -- the router --------------------------------------------------------------------------


def _pattern(template: str) -> re.Pattern[str]:
    """`/a/{x}/b/` → `^/a/(?P<x>[^/]+)/b/$` (Starlette's default `str` convertor)."""
    parts = _PARAMETER.split(template)  # literal, name, literal, name, ..., literal
    regex = "".join(
        f"(?P<{part}>[^/]+)" if index % 2 else re.escape(part) for index, part in enumerate(parts)
    )
    return re.compile(f"^{regex}$")


def _specificity(pattern: str) -> tuple[int, ...]:
    """Sort key: per path segment, a literal (0) before a parameter (1)."""
    return tuple(int("(?P<" in segment) for segment in pattern.split("/"))


def _for_method(methods: dict[str, Operation], method: str) -> Operation | None:
    return methods.get(method) or (methods.get("GET") if method == "HEAD" else None)


class Router:
    """Matches a request to its operation and serves it; 404, 405 and the trailing-slash
    redirect (with a *relative* Location: never built from the client's Host header)."""

    def __init__(
        self,
        operations: list[Operation],
        error_handlers: Mapping[type[Exception], ErrorHandler],
    ) -> None:
        self.error_handlers = dict(error_handlers)
        self._handled = tuple(self.error_handlers)
        self._by_name: dict[str, Operation] = {}
        self._static: dict[str, dict[str, Operation]] = {}
        # (pattern, operations by method), the most literal template first.
        self._dynamic: list[tuple[re.Pattern[str], dict[str, Operation]]] = []
        self._templates: dict[str, dict[str, Operation]] = {}
        for operation in operations:
            self.add(operation)

    def add(self, operation: Operation) -> None:
        key = f"{operation.namespace}:{operation.name}" if operation.namespace else operation.name
        if key in self._by_name:
            raise ValueError(f"two operations are named {key!r}")
        self._by_name[key] = operation
        if operation.parameters:
            methods = self._templates.get(operation.template)
            if methods is None:
                methods = self._templates[operation.template] = {}
                self._dynamic.append((_pattern(operation.template), methods))
                self._dynamic.sort(key=lambda entry: _specificity(entry[0].pattern))
        else:
            methods = self._static.setdefault(operation.template, {})
        if operation.method in methods:
            raise ValueError(f"{operation.method} {operation.template} is declared twice")
        methods[operation.method] = operation

    def match(self, method: str, path: str) -> tuple[Operation | None, dict[str, str], list[str]]:
        """The operation serving `method path` (HEAD is served by GET) and its path
        parameters; else None and the methods of the first template `path` matches
        (empty: no template matches). Where templates overlap the most literal wins, segment
        by segment: `/api/profiles/me/` before `/api/profiles/{username}/`, and
        `.../evaluations/stats/` before `.../evaluations/{cleaning_id}/`."""
        methods = self._static.get(path)
        if methods is not None:
            operation = _for_method(methods, method)
            if operation is not None:
                return operation, {}, []
        operation, parameters, allowed = self._dynamic_match(path, method)
        if operation is None and methods is not None:
            allowed = list(methods)
        return operation, parameters, allowed

    def _dynamic_match(
        self, path: str, method: str
    ) -> tuple[Operation | None, dict[str, str], list[str]]:
        allowed: list[str] = []
        for pattern, methods in self._dynamic:
            found = pattern.match(path)
            if found is None:
                continue
            operation = _for_method(methods, method)
            if operation is not None:
                return operation, found.groupdict(), []
            allowed = allowed or list(methods)
        return None, {}, allowed

    def resolve(self, method: str, path: str) -> Operation | None:
        """The operation that serves `method path`, if any."""
        return self.match(method, path)[0]

    def url_path_for(self, name: str, **params: Any) -> str:
        operation = self._by_name[name]
        if set(params) != set(operation.parameters):
            raise ValueError(f"{name} takes {operation.parameters}, not {tuple(params)}")
        return _PARAMETER.sub(lambda m: str(params[m.group(1)]), operation.template)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        request = Request(scope, receive, send)
        response = await self._respond(scope, request)
        await response(scope, receive, send)

    async def _respond(self, scope: Scope, request: Request) -> Response:
        path = scope["path"]
        root = scope.get("root_path", "")
        route_path = path[len(root) :] if root and path.startswith(root + "/") else path
        operation, parameters, allowed = self.match(scope["method"], route_path)
        if operation is None:
            if allowed:
                allow = ", ".join(sorted({*allowed, *(["HEAD"] if "GET" in allowed else [])}))
                return error_response(
                    405, "Method Not Allowed", "method_not_allowed", {"Allow": allow}
                )
            return self._not_found(scope, route_path)
        scope["route"] = operation
        scope["path_params"] = parameters
        try:
            return await operation.endpoint(request)
        except self._handled as error:
            for kind in type(error).__mro__:
                handler = self.error_handlers.get(kind)
                if handler is not None:
                    return handler(request, error)
            raise  # pragma: no cover - _handled lists exactly the handlers' types

    def _dynamic_any(self, path: str) -> bool:
        return any(pattern.match(path) for pattern, _ in self._dynamic)

    def _not_found(self, scope: Scope, route_path: str) -> Response:
        slashed = route_path + "/"
        if not route_path.endswith("/") and (slashed in self._static or self._dynamic_any(slashed)):
            query = scope.get("query_string", b"").decode("latin-1")
            location = scope["path"] + "/"  # the full path (root_path included)
            return RedirectResponse(location + (f"?{query}" if query else ""), status_code=307)
        return error_response(404, "Not Found", "not_found")


Lifespan = Callable[[Any], AbstractAsyncContextManager[Mapping[str, Any] | None]]


class App:
    """The ASGI application: the lifespan (its state reaches every request as
    `request.state`), the middleware, then the router."""

    def __init__(
        self,
        router: Router,
        middleware: list[Callable[[ASGIApp], ASGIApp]],
        lifespan: Lifespan,
    ) -> None:
        self.router = router
        self.state = State()  # for tests and scripts that build the app without serving it
        self.lifespan = lifespan
        stack: ASGIApp = router
        for wrap in reversed(middleware):
            stack = wrap(stack)
        self._stack = stack

    def url_path_for(self, name: str, **params: Any) -> str:
        return self.router.url_path_for(name, **params)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            await self._lifespan(scope, receive, send)
        else:
            await self._stack(scope, receive, send)

    async def _lifespan(self, scope: Scope, receive: Receive, send: Send) -> None:
        """The ASGI lifespan protocol, as Starlette's router speaks it."""
        started = False
        await receive()  # lifespan.startup
        try:
            async with self.lifespan(self) as state:
                if state:
                    if "state" not in scope:
                        raise RuntimeError("the server does not support lifespan state")
                    scope["state"].update(state)
                await send({"type": "lifespan.startup.complete"})
                started = True
                await receive()  # lifespan.shutdown
        except BaseException:
            failed = "lifespan.shutdown.failed" if started else "lifespan.startup.failed"
            await send({"type": failed, "message": traceback.format_exc()})
            raise
        await send({"type": "lifespan.shutdown.complete"})
