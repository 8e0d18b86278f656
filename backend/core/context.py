"""What every handler can reach: built by create_app, exposed through lifespan state."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, cast

from starlette.requests import Request

from backend.config import Settings
from backend.core.db import Database
from backend.core.jobs import BackgroundJobs
from backend.core.mail import Outbox
from backend.core.metrics import Metrics
from backend.core.replica import PublicReads
from backend.core.security import Clock, Passwords, Tokens
from backend.core.sql import Query

if TYPE_CHECKING:
    from backend.core.auth import AccountLoader


@dataclass(frozen=True, slots=True)
class AppContext:
    settings: Settings
    db: Database  # the primary: writes, transactions, the caller's own data
    reads: PublicReads  # public reads: the replica while fresh, else the primary
    passwords: Passwords
    tokens: Tokens
    outbox: Outbox
    clock: Clock
    metrics: Metrics
    jobs: BackgroundJobs
    openapi: bytes
    schema_revision: str  # the migrations' head: readiness compares the database's
    load_current_user: AccountLoader  # authentication's check on its own (the users domain's)
    caller_still_valid: Query  # the same check, folded into a request's first read


def app_context(request: Request) -> AppContext:
    """The app's context, from the lifespan state (`request.state.ctx`)."""
    return cast(AppContext, request.state.ctx)
