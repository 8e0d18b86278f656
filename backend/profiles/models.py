"""Profiles: the public card of a user."""

from __future__ import annotations

from typing import Annotated

from pydantic import AnyHttpUrl, StringConstraints

from backend.core.models import DateTimeModel, RequestModel


class ProfileUpdate(RequestModel):
    """Partial update: only the fields present in the body change (null clears one)."""

    full_name: Annotated[str, StringConstraints(max_length=200)] | None = None
    phone_number: Annotated[str, StringConstraints(max_length=40)] | None = None
    bio: Annotated[str, StringConstraints(max_length=5000)] | None = None
    image: AnyHttpUrl | None = None


class ProfileUpdateBody(RequestModel):
    profile_update: ProfileUpdate


class ProfilePublic(DateTimeModel):
    id: int
    full_name: str | None
    phone_number: str | None
    bio: str | None
    image: str | None
    user_id: int
    username: str
    email: str | None

    def seen_by(self, viewer_id: int) -> ProfilePublic:
        """Only the profile's own user sees its email."""
        return self if viewer_id == self.user_id else self.model_copy(update={"email": None})
