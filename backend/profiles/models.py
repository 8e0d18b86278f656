"""Profiles: the public card of a user."""

from __future__ import annotations

from typing import Annotated

from pydantic import AnyHttpUrl, Field, StringConstraints

from backend.core.models import OwnerOnlyEmail, RequestModel


class ProfileUpdate(RequestModel):
    """Partial update: only the fields present in the body change (null clears one)."""

    full_name: Annotated[str, StringConstraints(max_length=200)] | None = None
    phone_number: Annotated[str, StringConstraints(max_length=40)] | None = None
    bio: Annotated[str, StringConstraints(max_length=5000)] | None = None
    image: Annotated[AnyHttpUrl, Field(max_length=2000)] | None = None


class ProfileUpdateBody(RequestModel):
    profile_update: ProfileUpdate


class ProfilePublic(OwnerOnlyEmail):
    email_owner = "user_id"

    id: int
    full_name: str | None
    phone_number: str | None
    bio: str | None
    image: str | None
    user_id: int
    username: str
    email: str | None
