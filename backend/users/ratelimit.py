"""Fixed-window rate limits whose counters live in PostgreSQL, so they hold across every
gunicorn worker and app instance (atomic UPSERTs; no session state, PgBouncer-safe)."""

from __future__ import annotations

import hashlib
import ipaddress
import random

from starlette.requests import Request

from backend.core.db import Database
from backend.core.errors import TooManyRequests
from backend.users import queries

TOO_MANY_ATTEMPTS = "Too many attempts. Please try again later."
_HOUSEKEEPING_CHANCE = 0.01


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
    """Windows are aligned on the database's clock (`now()` in the statement), so every
    instance counts into the same window whatever its own clock says."""

    def __init__(self, db: Database) -> None:
        self.db = db

    async def hit(self, key: str, *, limit: int, seconds: int) -> None:
        """Count a request; 429 once the window holds more than `limit`."""
        window = await queries.hit_rate_limit(self.db, bucket=key, window_seconds=seconds)
        if random.random() < _HOUSEKEEPING_CHANCE:  # noqa: S311 (not security-relevant)
            await queries.delete_expired_rate_limits(self.db)
        if window.hits > limit:
            raise TooManyRequests(TOO_MANY_ATTEMPTS, retry_after=window.retry_after)

    async def check(self, key: str, *, limit: int, seconds: int) -> None:
        """429 if `limit` hits are already recorded in this window (without counting)."""
        window = await queries.get_rate_limit_hits(self.db, bucket=key, window_seconds=seconds)
        if window.hits >= limit:
            raise TooManyRequests(TOO_MANY_ATTEMPTS, retry_after=window.retry_after)

    async def record(self, key: str, *, seconds: int) -> None:
        await queries.hit_rate_limit(self.db, bucket=key, window_seconds=seconds)

    async def clear(self, key: str) -> None:
        await queries.clear_rate_limit(self.db, bucket=key)
