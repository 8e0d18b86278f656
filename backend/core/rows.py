"""Rows from our own statements written straight to JSON, in a response model's shape.

A list's rows come from our SQL already in the shape its response model declares.
Validating each one (pydantic builds a model per row and per nested card) only to dump it
again cost a 20-item feed page about 210 µs of the request's 800 µs (measured in-process).
`RowWriter(Model)` reads the model's fields once, then writes rows with orjson. The output
is the JSON of `Model.model_validate(row).model_dump_json(context={"viewer_id": ...})`,
and `tests/core/test_rows.py` holds the two equal on real rows. So the model stays the one
definition of the shape: its fields, their order, defaults, what is excluded, and who sees
an email.

Per field, only what the JSON output needs is done:
- timestamps that come as text inside a JSON card are parsed, so they print as pydantic
  prints them (`...Z`);
- a `Price` prints as a JSON number;
- nested cards and lists of cards are written by their own model's writer;
- a missing column takes the field's default;
- columns the model does not declare are left out.

An annotation this module does not know is refused when the writer is built, at import
time, rather than written wrongly.
"""

from __future__ import annotations

import types
from collections.abc import Callable, Iterable, Mapping
from datetime import datetime
from decimal import Decimal
from enum import Enum
from typing import Any, Literal, Union, get_args, get_origin

import orjson
from pydantic import BaseModel, PlainSerializer
from pydantic.fields import FieldInfo

from backend.core.models import email_visible

Row = Mapping[str, Any]  # a row or a decoded JSON card, as our SQL shapes it
Convert = Callable[[Any, int | None], Any]
PLAIN_TYPES = (int, str, bool, float)


def _timestamp(value: Any, viewer: int | None) -> datetime:
    return value if isinstance(value, datetime) else datetime.fromisoformat(value)


def _price(value: Any, viewer: int | None) -> float:
    return float(value)


def _optional(convert: Convert) -> Convert:
    return lambda value, viewer: None if value is None else convert(value, viewer)


def _each(convert: Convert) -> Convert:
    return lambda values, viewer: [convert(value, viewer) for value in values]


def _serialises_as_float(field: FieldInfo) -> bool:
    return any(isinstance(item, PlainSerializer) and item.func is float for item in field.metadata)


def _converter(annotation: Any, field: FieldInfo) -> Convert | None:
    """How a value of this annotation is prepared for orjson (None: as it is)."""
    origin = get_origin(annotation)
    if origin in (Union, types.UnionType):
        inner = [arg for arg in get_args(annotation) if arg is not type(None)]
        if len(inner) != 1:
            raise TypeError(f"RowWriter cannot write the union {annotation!r}")
        convert = _converter(inner[0], field)
        return None if convert is None else _optional(convert)
    if origin is list:
        convert = _converter(get_args(annotation)[0], field)
        return None if convert is None else _each(convert)
    if origin is Literal or annotation in PLAIN_TYPES:
        return None
    return _class_converter(annotation, field)


def _class_converter(annotation: Any, field: FieldInfo) -> Convert | None:
    if isinstance(annotation, type):
        if issubclass(annotation, Enum):
            return None  # the database gives the value itself, a str
        if issubclass(annotation, datetime):
            return _timestamp
        if issubclass(annotation, Decimal) and _serialises_as_float(field):
            return _price
        if issubclass(annotation, BaseModel):
            return RowWriter(annotation).card
    raise TypeError(f"RowWriter cannot write {annotation!r}")


class RowWriter:
    """Writes rows (mappings: asyncpg records, decoded JSON cards) in `model`'s JSON shape."""

    def __init__(self, model: type[BaseModel]) -> None:
        self.model = model
        fields = [(name, field) for name, field in model.model_fields.items() if not field.exclude]
        # `card` is generated: one dict display per model, in the model's field order, is
        # several times faster than a loop over the fields (a feed page has 60 cards).
        names: dict[str, Any] = {}
        items = []
        for index, (name, field) in enumerate(fields):
            convert = _converter(field.annotation, field)
            if field.is_required():
                value = f"row[{name!r}]"  # a KeyError when the statement lacks the column
            else:
                names[f"default_{index}"] = field.get_default()
                value = f"row.get({name!r}, default_{index})"
            if convert is not None:
                names[f"convert_{index}"] = convert
                value = f"convert_{index}({value}, viewer)"
            items.append(f"{name!r}: {value}")
        body = [f"    out = {{{', '.join(items)}}}"]
        # The field whose id may see this card's email (core/models.py's OwnerOnlyEmail).
        owner = getattr(model, "email_owner", None)
        if owner is not None:
            names["email_visible"] = email_visible
            body.append(f"    if not email_visible(viewer, out[{owner!r}]):")
            body.append("        out['email'] = None")
        source = "def card(row, viewer):\n" + "\n".join([*body, "    return out"]) + "\n"
        exec(compile(source, f"<RowWriter {model.__name__}>", "exec"), names)  # noqa: S102
        self.card: Callable[[Mapping[str, Any], int | None], dict[str, Any]] = names["card"]

    def dumps_one(self, row: Mapping[str, Any], viewer: int | None) -> bytes:
        """One row as a JSON object, for `viewer`."""
        return orjson.dumps(self.card(row, viewer), option=orjson.OPT_UTC_Z)

    def dumps(self, rows: Iterable[Mapping[str, Any]], viewer: int | None) -> bytes:
        """A JSON array of the rows, for `viewer` (who may see which emails)."""
        card = self.card
        return orjson.dumps([card(row, viewer) for row in rows], option=orjson.OPT_UTC_Z)
