"""Users and auth: request bodies, responses and rows."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated, Literal

from pydantic import AfterValidator, EmailStr, Field, StringConstraints

from backend.core.models import OwnerOnlyEmail, PublicModel, RequestModel
from backend.profiles.models import ProfilePublic
from backend.users.passwords import common_password

Username = Annotated[
    str, StringConstraints(min_length=3, max_length=64, pattern=r"^[a-zA-Z0-9_-]+$")
]
# Not stripped: a password is exactly what the user typed. A new password is also checked
# against the common-password list (users/passwords.py).
Password = Annotated[
    str,
    StringConstraints(min_length=8, max_length=100, strip_whitespace=False),
    AfterValidator(common_password),
]
Email = Annotated[EmailStr, Field(max_length=320)]


class UserCreate(RequestModel):
    email: Email
    username: Username
    password: Password


class UserRegisterBody(RequestModel):
    new_user: UserCreate


class LoginForm(RequestModel):
    username: Annotated[str, StringConstraints(min_length=1, max_length=320)]
    password: Annotated[
        str, StringConstraints(min_length=1, max_length=1000, strip_whitespace=False)
    ]


class RefreshTokenBody(RequestModel):
    refresh_token: Annotated[str, StringConstraints(min_length=1, max_length=1024)]


class PasswordUpdate(RequestModel):
    current_password: Annotated[
        str, StringConstraints(min_length=1, max_length=1000, strip_whitespace=False)
    ]
    new_password: Password


class PasswordUpdateBody(RequestModel):
    password_update: PasswordUpdate


class PasswordResetRequest(RequestModel):
    email: Email


class PasswordResetConfirm(RequestModel):
    token: Annotated[str, StringConstraints(min_length=1, max_length=1024)]
    new_password: Password


class AccessToken(PublicModel):
    access_token: str
    token_type: Literal["bearer"] = "bearer"


class TokenPair(AccessToken):
    refresh_token: str
    expires_in: int = Field(description="Seconds until the access token expires.")


class UserPublic(OwnerOnlyEmail):
    email_owner = "id"

    id: int
    username: str
    email: str | None
    email_verified: bool
    is_active: bool
    is_superuser: bool
    profile: ProfilePublic
    access_token: AccessToken | None = None


class UserRow(UserPublic):
    """A user as loaded for authentication; serialises as UserPublic."""

    token_version: int = Field(exclude=True)


class PasswordCheck(PublicModel):
    """What a password change checks: the current hash and who the account is."""

    password: str
    username: str
    email: str


class UserIdentity(PublicModel):
    """Who an account is: for checks that a password is not built from it."""

    id: int
    username: str
    email: str


class UserCredentials(PublicModel):
    id: int
    password: str
    is_active: bool
    token_version: int


class ResetAccepted(PublicModel):
    detail: str = "If an account exists for that email, a password reset link has been sent."


@dataclass(frozen=True, slots=True)
class RateLimitWindow:
    """A counter's current window as the database sees it."""

    hits: int
    retry_after: int  # seconds until the window ends (at least 1)
