"""Shared model bases and the keyset cursor used by every paginated list."""

from __future__ import annotations

import base64
import json
from datetime import datetime
from decimal import ROUND_HALF_UP, Decimal
from typing import Annotated, ClassVar

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    PlainSerializer,
    SerializationInfo,
    StringConstraints,
    field_serializer,
)

from backend.core.errors import ValidationFailed

PositiveId = Annotated[int, Field(ge=1, le=2**63 - 1)]
Limit = Annotated[int, Field(ge=1, le=100)]


def viewer_of(info: SerializationInfo) -> int | None:
    """The id of the user a response is serialised for (`json_response(viewer_id=...)`)."""
    context = info.context
    return context.get("viewer_id") if isinstance(context, dict) else None


def email_visible(viewer_id: int | None, owner_id: int) -> bool:
    """The contract shows a user's email to that user only: without a viewer, nobody."""
    return viewer_id is not None and viewer_id == owner_id


class RequestModel(BaseModel):
    """Request bodies: unknown fields ignored, strings stripped of surrounding whitespace."""

    model_config = ConfigDict(extra="ignore", str_strip_whitespace=True)


class PublicModel(BaseModel):
    """Responses and rows."""

    model_config = ConfigDict(extra="ignore", frozen=True)


class DateTimeModel(PublicModel):
    created_at: datetime
    updated_at: datetime


class OwnerOnlyEmail(DateTimeModel):
    """A card with an `email` that only its owner sees: the user whose id is in the field
    named by `email_owner` (core/rows.py's RowWriter applies the same rule)."""

    email_owner: ClassVar[str]

    @field_serializer("email", when_used="json", check_fields=False)
    def _email_only_for_its_owner(self, email: str | None, info: SerializationInfo) -> str | None:
        return email if email_visible(viewer_of(info), getattr(self, self.email_owner)) else None


MAX_PRICE = Decimal("99999999.99")


def _to_cents(value: Decimal) -> Decimal:
    """Round half up to cents; check the range after rounding (99999999.995 is too much)."""
    if value > MAX_PRICE + 1:
        raise ValueError(f"Input should be less than or equal to {MAX_PRICE}")
    cents = value.quantize(Decimal("0.01"), rounding=ROUND_HALF_UP)
    if cents > MAX_PRICE:
        raise ValueError(f"Input should be less than or equal to {MAX_PRICE}")
    return cents


# Exact in the database (numeric(10,2)), a JSON number on the wire.
Price = Annotated[
    Decimal,
    Field(ge=0, allow_inf_nan=False, json_schema_extra={"maximum": float(MAX_PRICE)}),
    AfterValidator(_to_cents),
    PlainSerializer(float, return_type=float, when_used="json"),
]


class PageQuery(RequestModel):
    """`?limit=&cursor=` of every list endpoint."""

    limit: Limit = 100
    cursor: Annotated[str, StringConstraints(max_length=200)] | None = None


class Cursor(PublicModel):
    """A keyset position: the (timestamp, id) of the last item served."""

    ts: datetime
    id: int

    def encode(self) -> str:
        raw = json.dumps([self.ts.isoformat(), self.id]).encode()
        return base64.urlsafe_b64encode(raw).decode().rstrip("=")

    @classmethod
    def decode(cls, token: str, parameter: str = "cursor") -> Cursor:
        """Parse a cursor from a client; anything malformed is a 422 on `parameter`."""
        try:
            padded = token + "=" * (-len(token) % 4)
            ts, item_id = json.loads(base64.urlsafe_b64decode(padded.encode()))
            cursor = cls(ts=datetime.fromisoformat(ts), id=int(item_id))
            if cursor.ts.tzinfo is None:
                raise ValueError("naive timestamp")
        except (ValueError, TypeError, json.JSONDecodeError):
            raise ValidationFailed(
                [{"loc": ["query", parameter], "msg": "Invalid cursor", "type": "value_error"}]
            ) from None
        return cursor
