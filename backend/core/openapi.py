"""OpenAPI 3.1, generated from the URL map and the same pydantic models that validate
requests and shape responses.

Each operation is declared with a `Doc` (its summary, the models of its body, query and
path, and its responses: core/routing.py). The same Doc decides what the handler is given,
validated, so the document cannot name another model than the one parsed.
`openapi_document()` walks the operations. A test validates the document with
openapi-spec-validator, and schemathesis checks the running app against it.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal, get_args, get_origin

from pydantic import BaseModel
from pydantic.json_schema import JsonSchemaMode, models_json_schema

from backend.core.http import FORM_TYPES
from backend.core.models import PublicModel

if TYPE_CHECKING:
    from backend.core.routing import Operation

REF_TEMPLATE = "#/components/schemas/{model}"
LOGIN_PATH = "/api/users/login/token/"


class ErrorResponse(PublicModel):
    detail: str
    code: str


class ValidationErrorItem(PublicModel):
    loc: list[str | int]
    msg: str
    type: str


class ValidationErrorResponse(PublicModel):
    detail: list[ValidationErrorItem]
    code: Literal["validation_error"]


ERROR_DESCRIPTIONS = {
    400: "Business rule violated",
    401: "Not authenticated (header `WWW-Authenticate: Bearer`)",
    403: "Not allowed",
    404: "Not found",
    413: "Request body over 1 MiB",
    415: "Content-Type not accepted (JSON bodies: `application/json`)",
    422: "Request validation failed",
    429: "Rate limited (header `Retry-After`)",
    500: "Internal error",
    503: "Database unavailable or request deadline exceeded (header `Retry-After`)",
}


@dataclass(frozen=True)
class Doc:
    """What the OpenAPI document says about one handler. `responses` maps a status to a
    model, `list[Model]`, `int`, or None (no body)."""

    summary: str
    responses: Mapping[int, Any]
    body: type[BaseModel] | None = None
    form: type[BaseModel] | None = None
    query: type[BaseModel] | None = None
    path: type[BaseModel] | None = None
    errors: tuple[int, ...] = ()
    auth: bool = True
    database: bool = True
    description: str | None = None
    extra: dict[str, Any] = field(default_factory=dict)


def _model_of(annotation: Any) -> type[BaseModel] | None:
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation
    if get_origin(annotation) is list:
        return _model_of(get_args(annotation)[0])
    return None


class _Schemas:
    """Collects every model once and hands out `$ref`s into components.schemas."""

    def __init__(self, docs: list[Doc]) -> None:
        wanted: list[tuple[type[BaseModel], JsonSchemaMode]] = [
            (ErrorResponse, "serialization"),
            (ValidationErrorResponse, "serialization"),
        ]
        for doc in docs:
            for model in (doc.body, doc.form):
                if model is not None:
                    wanted.append((model, "validation"))
            for annotation in doc.responses.values():
                model = _model_of(annotation)
                if model is not None:
                    wanted.append((model, "serialization"))
        unique = list(dict.fromkeys(wanted))
        self._refs, top = models_json_schema(unique, ref_template=REF_TEMPLATE)
        self.components: dict[str, Any] = dict(top.get("$defs", {}))

    def ref(self, model: type[BaseModel], mode: JsonSchemaMode) -> dict[str, Any]:
        return dict(self._refs[(model, mode)])

    def response(self, annotation: Any) -> dict[str, Any]:
        if annotation is int:
            return {"type": "integer"}
        model = _model_of(annotation)
        assert model is not None, annotation
        item = self.ref(model, "serialization")
        return {"type": "array", "items": item} if get_origin(annotation) is list else item

    def parameters(self, model: type[BaseModel], location: str) -> list[dict[str, Any]]:
        schema = model.model_json_schema(ref_template=REF_TEMPLATE, mode="validation")
        self.components.update(schema.get("$defs", {}))
        required = set(schema.get("required", []))
        return [
            {
                "name": name,
                "in": location,
                "required": location == "path" or name in required,
                "schema": {k: v for k, v in prop.items() if k != "title"},
            }
            for name, prop in schema.get("properties", {}).items()
        ]


def _operation(doc: Doc, schemas: _Schemas, name: str | None, tag: str) -> dict[str, Any]:
    operation: dict[str, Any] = {"summary": doc.summary, "operationId": name, "tags": [tag]}
    if doc.description:
        operation["description"] = doc.description
    parameters = []
    if doc.path is not None:
        parameters += schemas.parameters(doc.path, "path")
    if doc.query is not None:
        parameters += schemas.parameters(doc.query, "query")
    if parameters:
        operation["parameters"] = parameters
    for model, media_types in ((doc.body, ("application/json",)), (doc.form, FORM_TYPES)):
        if model is not None:
            schema = {"schema": schemas.ref(model, "validation")}
            content = dict.fromkeys(media_types, schema)
            operation["requestBody"] = {"required": True, "content": content}
    if doc.auth:
        operation["security"] = [{"OAuth2PasswordBearer": []}]
    operation["responses"] = _responses(doc, schemas)
    operation.update(doc.extra)
    return operation


def _error_statuses(doc: Doc) -> list[int]:
    errors = set(doc.errors) | {500}
    if doc.auth:
        errors.add(401)
    if doc.body or doc.form or doc.query or doc.path:
        errors.add(422)
    if doc.body or doc.form:
        errors.update({413, 415})
    if doc.database:
        errors.add(503)
    return sorted(errors)


def _responses(doc: Doc, schemas: _Schemas) -> dict[str, Any]:
    responses: dict[str, Any] = {}
    for status, annotation in doc.responses.items():
        entry: dict[str, Any] = {"description": "Success"}
        if annotation is not None:
            entry["content"] = {"application/json": {"schema": schemas.response(annotation)}}
        responses[str(status)] = entry
    for status in _error_statuses(doc):
        if str(status) in responses:  # the handler documents its own body for it
            continue
        model = ValidationErrorResponse if status == 422 else ErrorResponse
        responses[str(status)] = {
            "description": ERROR_DESCRIPTIONS[status],
            "content": {"application/json": {"schema": schemas.ref(model, "serialization")}},
        }
    return responses


def openapi_document(operations: list[Operation], *, title: str, version: str) -> dict[str, Any]:
    """The OpenAPI 3.1 document of every documented operation."""
    documented = [operation for operation in operations if operation.doc is not None]
    schemas = _Schemas([operation.doc for operation in documented if operation.doc])
    paths: dict[str, dict[str, Any]] = {}
    for operation in documented:
        assert operation.doc is not None
        entry = _operation(operation.doc, schemas, operation.name, operation.tag)
        paths.setdefault(operation.template, {})[operation.method.lower()] = entry
    return {
        "openapi": "3.1.0",
        "info": {
            "title": title,
            "version": version,
            "description": "The Phresh cleaning-jobs marketplace API. "
            "Contract: docs/API.md in the repository.",
        },
        "paths": paths,
        "components": {
            "schemas": schemas.components,
            "securitySchemes": {
                "OAuth2PasswordBearer": {
                    "type": "oauth2",
                    "description": "Log in with the email as `username`; send "
                    "`Authorization: Bearer <access_token>`.",
                    "flows": {"password": {"tokenUrl": LOGIN_PATH, "scopes": {}}},
                }
            },
        },
    }


def openapi_json(operations: list[Operation], *, title: str, version: str) -> bytes:
    return json.dumps(openapi_document(operations, title=title, version=version)).encode()
