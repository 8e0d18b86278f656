"""Fixed-window rate limits whose counters live in PostgreSQL, so they hold across every
gunicorn worker and app instance (atomic UPSERTs; no session state, PgBouncer-safe)."""

from __future__ import annotations

import hashlib
import ipaddress
import random
from dataclasses import dataclass
from datetime import UTC, datetime

from starlette.requests import Request

from backend.core.db import Database
from backend.core.errors import TooManyRequests
from backend.core.security import Clock
from backend.users import queries

TOO_MANY_ATTEMPTS = "Too many attempts. Please try again later."
_HOUSEKEEPING_CHANCE = 0.01


@dataclass(frozen=True, slots=True)
class Window:
    start: datetime
    end: datetime
    retry_after: int


def client_address(request: Request, trusted_proxies: list[str]) -> str:
    """The client's IP. `X-Forwarded-For` counts only when the peer is a trusted proxy; then
    the rightmost address that is not itself a trusted proxy is the client."""
    peer = request.client.host if request.client else "unknown"
    networks = [ipaddress.ip_network(item, strict=False) for item in trusted_proxies]

    def trusted(address: str) -> bool:
        try:
            ip = ipaddress.ip_address(address)
        except ValueError:
            return False
        return any(ip in network for network in networks)

    if not networks or not trusted(peer):
        return peer
    hops = [
        hop.strip() for hop in request.headers.get("x-forwarded-for", "").split(",") if hop.strip()
    ]
    for hop in reversed(hops):
        if not trusted(hop):
            return hop
    return hops[0] if hops else peer


def bucket(kind: str, *parts: str) -> str:
    """A counter key; the parts (emails, addresses) are hashed, not stored."""
    digest = hashlib.sha256("\x00".join(parts).encode()).hexdigest()[:32]
    return f"{kind}:{digest}"


class RateLimiter:
    def __init__(self, db: Database, clock: Clock) -> None:
        self.db = db
        self.clock = clock

    def window(self, seconds: int) -> Window:
        now = self.clock()
        start = int(now // seconds) * seconds
        return Window(
            start=datetime.fromtimestamp(start, UTC),
            end=datetime.fromtimestamp(start + seconds, UTC),
            retry_after=max(1, int(start + seconds - now + 0.999)),
        )

    async def hit(self, key: str, *, limit: int, seconds: int) -> None:
        """Count a request; 429 once the window holds more than `limit`."""
        window = self.window(seconds)
        hits = await queries.hit_rate_limit(
            self.db, bucket=key, window_start=window.start, expires_at=window.end
        )
        if random.random() < _HOUSEKEEPING_CHANCE:  # noqa: S311 (not security-relevant)
            await queries.delete_expired_rate_limits(
                self.db, now=datetime.fromtimestamp(self.clock(), UTC)
            )
        if hits > limit:
            raise TooManyRequests(TOO_MANY_ATTEMPTS, retry_after=window.retry_after)

    async def check(self, key: str, *, limit: int, seconds: int) -> None:
        """429 if `limit` hits are already recorded in this window (without counting)."""
        window = self.window(seconds)
        if (
            await queries.get_rate_limit_hits(self.db, bucket=key, window_start=window.start)
            >= limit
        ):
            raise TooManyRequests(TOO_MANY_ATTEMPTS, retry_after=window.retry_after)

    async def record(self, key: str, *, seconds: int) -> None:
        window = self.window(seconds)
        await queries.hit_rate_limit(
            self.db, bucket=key, window_start=window.start, expires_at=window.end
        )

    async def clear(self, key: str) -> None:
        await queries.clear_rate_limit(self.db, bucket=key)
