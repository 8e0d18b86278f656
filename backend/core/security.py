"""Passwords (Argon2id, hashed off the event loop) and signed opaque tokens (itsdangerous)."""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import os
import re
import secrets
import threading
import time
import uuid
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

from argon2 import PasswordHasher, Type
from argon2.exceptions import InvalidHashError, VerificationError
from itsdangerous import BadData, BadSignature, Signer, URLSafeSerializer

Clock = Callable[[], float]


@dataclass(frozen=True, slots=True)
class Argon2Parameters:
    time_cost: int = 3
    memory_cost_kib: int = 65536
    parallelism: int = 4


def _lowest_cpu_priority() -> None:
    """Run this thread (and the lane threads argon2 starts from it) at nice 19, so a burst
    of logins takes the CPU only when the event loops have nothing to do. Linux sets nice
    per thread; elsewhere this is a no-op."""
    with contextlib.suppress(OSError, AttributeError):
        os.setpriority(os.PRIO_PROCESS, threading.get_native_id(), 19)


class Passwords:
    """Argon2id hashing in dedicated low-priority threads, at most one hash per core at a
    time: logins never block the event loop, never starve the other requests of CPU, and
    never exhaust memory (each hash holds `memory_cost` KiB)."""

    def __init__(self, parameters: Argon2Parameters) -> None:
        self._hasher = PasswordHasher(
            time_cost=parameters.time_cost,
            memory_cost=parameters.memory_cost_kib,
            parallelism=parameters.parallelism,
            type=Type.ID,
        )
        self._executor = ThreadPoolExecutor(
            max_workers=os.cpu_count() or 1,
            thread_name_prefix="argon2",
            initializer=_lowest_cpu_priority,
        )
        self._dummy_hash: str | None = None

    async def hash(self, password: str) -> str:
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._executor, self._hasher.hash, password)

    async def verify(self, password_hash: str, password: str) -> bool:
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(
            self._executor, self._verify_sync, password_hash, password
        )

    async def verify_nothing(self, password: str) -> None:
        """Spend the time of a real verification, so an unknown email is not faster."""
        if self._dummy_hash is None:
            self._dummy_hash = await self.hash(secrets.token_urlsafe(16))
        await self.verify(self._dummy_hash, password)

    def needs_rehash(self, password_hash: str) -> bool:
        return self._hasher.check_needs_rehash(password_hash)

    def _verify_sync(self, password_hash: str, password: str) -> bool:
        try:
            return self._hasher.verify(password_hash, password)
        except (VerificationError, InvalidHashError):
            return False


def _is_uuid(value: str) -> bool:
    try:
        uuid.UUID(value)
    except ValueError:
        return False
    return True


def hash_token(token: str) -> bytes:
    """What we store for a refresh or reset token: SHA-256 of its random part (tokens carry
    256 bits of entropy, so a fast hash is enough; a database leak reveals no usable token)."""
    return hashlib.sha256(token.encode()).digest()


_ACCESS_SALT = "phresh.access"
# sub.ver.iat.exp.family: bytes, so \d is ASCII only; the family (login session) is a UUID as
# str(uuid) writes it, or empty for a token issued at registration.
_ACCESS_CLAIMS = re.compile(
    rb"(\d{1,18})\.(\d{1,18})\.(\d{1,18})\.(\d{1,18})\."
    rb"([0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12})?"
)


@dataclass(frozen=True, slots=True)
class AccessClaims:
    user_id: int
    token_version: int
    expires_at: float
    family_id: str | None  # the login session (refresh token family); None: from register


class Tokens:
    """Signed, expiring, opaque tokens. One salt per purpose; SHA-256; key rotation through
    fallbacks (verify with any key, sign with the newest)."""

    def __init__(
        self,
        keys: list[str],
        *,
        access_ttl_seconds: int,
        leeway_seconds: int,
        clock: Clock = time.time,
    ) -> None:
        def serializer(salt: str) -> URLSafeSerializer:
            return URLSafeSerializer(
                keys, salt=salt, signer_kwargs={"digest_method": hashlib.sha256}
            )

        # Access tokens are checked on every request: a bare signed string
        # (`sub.ver.iat.exp.family.signature`), 4x cheaper to check than a serialized one.
        self._access = Signer(keys, salt=_ACCESS_SALT, digest_method=hashlib.sha256)
        self._serialized_access = serializer(_ACCESS_SALT)
        self._random = {
            "refresh": serializer("phresh.refresh"),
            "reset": serializer("phresh.reset"),
        }
        self.access_ttl_seconds = access_ttl_seconds
        self._leeway = leeway_seconds
        self._clock = clock

    def now(self) -> float:
        return self._clock()

    def issue_access(
        self, *, user_id: int, token_version: int, family_id: uuid.UUID | None = None
    ) -> str:
        """`family_id` ties the token to its login session: ending that session (logout,
        a replayed refresh token) ends the token too."""
        issued = int(self._clock())
        expires = issued + self.access_ttl_seconds
        family = "" if family_id is None else str(family_id)
        claims = f"{user_id}.{token_version}.{issued}.{expires}.{family}"
        return self._access.sign(claims).decode()

    def read_access(self, token: str) -> AccessClaims | None:
        """The claims of a valid, unexpired access token, else None. A token issued up to
        `leeway` seconds "in the future" is accepted: another instance's clock may run ahead."""
        if len(token) > 1024:
            return None
        if not token[:1].isdigit():
            return self._read_serialized_access(token)
        try:
            claims = _ACCESS_CLAIMS.fullmatch(self._access.unsign(token))
        except (BadSignature, UnicodeEncodeError):
            return None
        if claims is None:
            return None
        sub, ver, iat, exp, family = claims.groups()
        return self._unexpired(
            int(sub), int(ver), int(iat), int(exp), None if family is None else family.decode()
        )

    def _unexpired(
        self, sub: int, ver: int, iat: int, exp: int, family: str | None
    ) -> AccessClaims | None:
        now = self._clock()
        if iat > now + self._leeway or now >= exp + self._leeway:
            return None
        return AccessClaims(user_id=sub, token_version=ver, expires_at=exp, family_id=family)

    def _read_serialized_access(self, token: str) -> AccessClaims | None:
        """An access token in the format issued until 2026-12-02 (a signed JSON object),
        still honoured until the last of them has expired (`ACCESS_TOKEN_EXPIRE_MINUTES` after
        every instance runs the bare format); then this can go."""
        payload = self._loads(self._serialized_access, token)
        if not isinstance(payload, dict):
            return None
        claims = [payload.get(key) for key in ("sub", "ver", "iat", "exp")]
        numbers = [
            value for value in claims if isinstance(value, int) and not isinstance(value, bool)
        ]
        if len(numbers) != len(claims):
            return None
        family = payload.get("fam")
        if family is not None and not (isinstance(family, str) and _is_uuid(family)):
            return None
        sub, ver, iat, exp = numbers
        return self._unexpired(sub, ver, iat, exp, family)

    def issue_random(self, purpose: str) -> tuple[str, bytes]:
        """A new opaque token for `purpose` ("refresh" or "reset") and the hash to store."""
        secret = secrets.token_urlsafe(32)
        return str(self._random[purpose].dumps(secret)), hash_token(secret)

    def read_random(self, purpose: str, token: str) -> bytes | None:
        """The stored-hash form of a well-signed token, or None for garbage or tampering."""
        secret = self._loads(self._random[purpose], token)
        return hash_token(secret) if isinstance(secret, str) else None

    @staticmethod
    def _loads(serializer: URLSafeSerializer, token: str) -> object:
        if len(token) > 1024:
            return None
        try:
            return serializer.loads(token)
        except (BadData, ValueError, UnicodeDecodeError):
            return None
