"""Small async factories through the real service and query modules; unique defaults per
call, keyword overrides."""

from __future__ import annotations

import itertools
import uuid
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

import asyncpg

from backend.cleanings import queries as cleanings
from backend.cleanings.models import CleaningPublic
from backend.core.context import AppContext
from backend.offers import service as offer_service
from backend.offers.models import OfferPublic
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
    user = await service.register(  # a fresh "address" each: factories are not rate-limited
        ctx.db,
        passwords=ctx.passwords,
        tokens=ctx.tokens,
        settings=ctx.settings,
        new_user=UserCreate(username=username, email=email, password=password),
        address=f"factory-{next(_sequence)}",
    )
    assert user.access_token is not None
    return UserFixture(user.id, username, email, password, user.access_token.access_token)


async def create_cleaning(
    ctx: AppContext,
    owner: UserFixture,
    *,
    name: str | None = None,
    description: str | None = "A tidy job.",
    price: Decimal | str = "25.50",
    cleaning_type: str = "spot_clean",
) -> CleaningPublic:
    row = await cleanings.create_cleaning(
        ctx.db,
        name=name or f"cleaning {next(_sequence)}",
        description=description,
        price=Decimal(price),
        cleaning_type=cleaning_type,
        owner_id=owner.id,
    )
    return CleaningPublic.model_validate(as_dicts(row))


def as_dicts(value: Any) -> Any:
    """A row, and the typed rows nested in it (user_rows, offer_rows), as plain dicts and
    lists: what pydantic validates (it takes no asyncpg Record)."""
    if isinstance(value, asyncpg.Record | dict):
        return {key: as_dicts(item) for key, item in value.items()}
    if isinstance(value, list):
        return [as_dicts(item) for item in value]
    return value


async def create_offer(
    ctx: AppContext, cleaning: CleaningPublic, offerer: UserFixture
) -> OfferPublic:
    return await offer_service.create_offer(ctx.db, cleaning_id=cleaning.id, user_id=offerer.id)


async def hire(
    ctx: AppContext, cleaning: CleaningPublic, owner: UserFixture, cleaner: UserFixture
) -> None:
    """`cleaner` offers on `cleaning` and its owner accepts."""
    await create_offer(ctx, cleaning, cleaner)
    await offer_service.accept_offer(
        ctx.db, cleaning_id=cleaning.id, username=cleaner.username, owner_id=owner.id
    )


async def create_users(ctx: AppContext, count: int) -> list[UserFixture]:
    return [await create_user(ctx) for _ in range(count)]
