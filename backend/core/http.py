"""Request parsing (body, query, path → pydantic, or a FastAPI-shaped 422) and JSON responses."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any, TypeVar

from pydantic import BaseModel, ValidationError
from starlette.formparsers import MultiPartException
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from backend.core.errors import BadRequest, UnsupportedMediaType, ValidationFailed
from backend.core.rows import Row, RowWriter

M = TypeVar("M", bound=BaseModel)

JSON = "application/json"
FORM_TYPES = ("application/x-www-form-urlencoded", "multipart/form-data")
NOT_JSON = "Request bodies must be JSON (Content-Type: application/json)."
NOT_A_FORM = "The login form must be application/x-www-form-urlencoded or multipart/form-data."


def media_type(request: Request) -> str:
    """The Content-Type without its parameters, lower-cased ("" when absent)."""
    return request.headers.get("content-type", "").partition(";")[0].strip().lower()


def _is_json(kind: str) -> bool:
    return kind == JSON or (kind.startswith("application/") and kind.endswith("+json"))


def validation_detail(error: ValidationError, location: str) -> list[dict[str, Any]]:
    """FastAPI's 422 `detail`: `{loc, msg, type}` only (never the input: it may be a password)."""
    return [
        {"loc": [location, *item["loc"]], "msg": item["msg"], "type": item["type"]}
        for item in error.errors(include_url=False, include_input=False, include_context=False)
    ]


async def parse_body(request: Request, model: type[M]) -> M:
    """Validate the JSON body (the embedding wrapper model, e.g. `{"new_user": {...}}`).
    Any other Content-Type is 415 before the body is read: a browser's "simple" cross-site
    request (text/plain, a form) can then never reach a handler (CSRF)."""
    if not _is_json(media_type(request)):
        raise UnsupportedMediaType(NOT_JSON)
    body = await request.body()
    try:
        return model.model_validate_json(body)
    except ValidationError as error:
        raise ValidationFailed(validation_detail(error, "body")) from None


async def parse_form(request: Request, model: type[M]) -> M:
    """Validate an `application/x-www-form-urlencoded` (or multipart) body; else 415."""
    if media_type(request) not in FORM_TYPES:
        raise UnsupportedMediaType(NOT_A_FORM)
    try:
        async with request.form(max_files=0, max_fields=20) as form:
            values = {key: value for key, value in form.items() if isinstance(value, str)}
    except MultiPartException as error:  # malformed, a file, or too many fields
        raise BadRequest(error.message) from None
    try:
        return model.model_validate(values)
    except ValidationError as error:
        raise ValidationFailed(validation_detail(error, "body")) from None


def parse_query(request: Request, model: type[M]) -> M:
    """Validate the query string; repeated keys keep their last value."""
    params = dict(request.query_params) if request.scope.get("query_string") else {}
    try:
        return model.model_validate(params)
    except ValidationError as error:
        raise ValidationFailed(validation_detail(error, "query")) from None


def parse_path(request: Request, model: type[M]) -> M:
    """Validate path parameters (routes declare them as plain strings; the model types them)."""
    try:
        return model.model_validate(request.path_params)
    except ValidationError as error:
        raise ValidationFailed(validation_detail(error, "path")) from None


def error_response(
    status: int, detail: Any, code: str, headers: dict[str, str] | None = None
) -> Response:
    """Every error body: `{"detail": ..., "code": ...}` (a list `detail` for 422)."""
    return JSONResponse({"detail": detail, "code": code}, status, headers=headers)


def json_response(
    model: BaseModel,
    status_code: int = 200,
    headers: dict[str, str] | None = None,
    *,
    viewer_id: int | None = None,
) -> Response:
    """Serialise once, straight to bytes, for `viewer_id` (who may see which emails)."""
    body = model.model_dump_json(context={"viewer_id": viewer_id})
    return Response(body, status_code, headers, media_type=JSON)


class RowResponder:
    """Writes rows in one response model's shape (core/rows.py: no model is built per row),
    for `viewer_id` (who may see which emails); build one per model, at import time."""

    def __init__(self, model: type[BaseModel]) -> None:
        self._writer = RowWriter(model)

    def one(self, row: Row, *, viewer_id: int | None, status_code: int = 200) -> Response:
        return Response(self._writer.dumps_one(row, viewer_id), status_code, media_type=JSON)

    def list(
        self,
        rows: Iterable[Row],
        *,
        viewer_id: int | None,
        headers: dict[str, str] | None = None,
    ) -> Response:
        return Response(self._writer.dumps(rows, viewer_id), 200, headers, media_type=JSON)
