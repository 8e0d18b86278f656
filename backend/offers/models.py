"""Offers: a user's offer to do a cleaning, and its state machine."""

from __future__ import annotations

from enum import StrEnum

from backend.core.models import DateTimeModel
from backend.users.models import UserPublic


class OfferStatus(StrEnum):
    pending = "pending"
    accepted = "accepted"
    rejected = "rejected"
    cancelled = "cancelled"
    completed = "completed"


class OfferPublic(DateTimeModel):
    user_id: int
    cleaning_id: int
    status: OfferStatus
    user: UserPublic | None = None
