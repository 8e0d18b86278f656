"""Small async factories through the real service and query modules; unique defaults per
call, keyword overrides."""

from __future__ import annotations

import itertools
import uuid
from dataclasses import dataclass

from backend.core.context import AppContext
from backend.users import service
from backend.users.models import UserCreate

_sequence = itertools.count(1)
DEFAULT_PASSWORD = "correct horse battery"


@dataclass(frozen=True)
class UserFixture:
    id: int
    username: str
    email: str
    password: str
    access_token: str

    @property
    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.access_token}"}


def unique_username(prefix: str = "user") -> str:
    return f"{prefix}_{next(_sequence)}_{uuid.uuid4().hex[:6]}"


async def create_user(
    ctx: AppContext,
    *,
    username: str | None = None,
    email: str | None = None,
    password: str = DEFAULT_PASSWORD,
) -> UserFixture:
    username = username or unique_username()
    email = email or f"{username.lower()}@example.com"
    user = await service.register(
        ctx, UserCreate(username=username, email=email, password=password)
    )
    assert user.access_token is not None
    return UserFixture(user.id, username, email, password, user.access_token.access_token)
