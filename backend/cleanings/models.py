"""Cleanings: jobs posted by owners."""

from __future__ import annotations

from enum import StrEnum
from typing import Annotated

from pydantic import Field, StringConstraints, field_validator

from backend.core.models import DateTimeModel, Price, PublicModel, RequestModel
from backend.offers.models import OfferPublic
from backend.users.models import UserPublic

Name = Annotated[str, StringConstraints(min_length=1, max_length=200)]
Description = Annotated[str, StringConstraints(max_length=5000)]


class CleaningType(StrEnum):
    dust_up = "dust_up"
    spot_clean = "spot_clean"
    full_clean = "full_clean"


class CleaningCreate(RequestModel):
    name: Name
    description: Description | None = None
    price: Price
    cleaning_type: CleaningType = CleaningType.spot_clean


class CleaningCreateBody(RequestModel):
    new_cleaning: CleaningCreate


class CleaningUpdate(RequestModel):
    """Partial update: absent fields stay; `owner` and unknown fields are ignored."""

    name: Name | None = None
    description: Description | None = None
    price: Price | None = None
    cleaning_type: CleaningType | None = None

    @field_validator("name", "price")
    @classmethod
    def _omit_rather_than_null(cls, value: object) -> object:
        if value is None:
            raise ValueError("may be omitted, but not null")
        return value


class CleaningUpdateBody(RequestModel):
    cleaning_update: CleaningUpdate


class CleaningPublic(DateTimeModel):
    id: int
    name: str
    description: str | None
    price: Annotated[Price, Field(description="Hourly price, exact to the cent.")]
    cleaning_type: CleaningType
    owner: UserPublic
    total_offers: int
    offers: list[OfferPublic]


class LockedCleaning(PublicModel):
    """The columns of a locked cleaning row that writes decide on."""

    owner: int
    price: Price
    cleaning_type: CleaningType


class CleaningLock(LockedCleaning):
    """The locked row a write decides on, and whether someone is hired for it."""

    id: int
    has_hired_offer: bool
