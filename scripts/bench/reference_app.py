"""The benchmark's ceiling: the same endpoints with the same SQL, token checks, hashing and
JSON, on raw ASGI + asyncpg with no framework, no validation models and no middleware.

    gunicorn scripts.bench.reference_app:app -k uvicorn_worker.UvicornWorker -w 2
"""

from __future__ import annotations

import json
import os
import uuid
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any
from urllib.parse import parse_qs

import asyncpg
from starlette.types import Receive, Scope, Send

from backend.core.middleware import send_json
from backend.core.security import Argon2Parameters, Passwords, Tokens
from backend.core.sql import load_queries
from backend.users.ratelimit import bucket

Q = {
    **load_queries("users"),
    **load_queries("cleanings"),
    **load_queries("offers"),
    **load_queries("feed"),
}
NEWEST_TS = datetime(9999, 12, 31, tzinfo=UTC)
NEWEST_ID = 2**63 - 1
OLDEST_TS = datetime(1, 1, 2, tzinfo=UTC)

tokens = Tokens(
    [os.environ.get("SECRET_KEY", "change-me-in-production")],
    access_ttl_seconds=3600,
    leeway_seconds=5,
)
passwords = Passwords(Argon2Parameters())
state: dict[str, asyncpg.Pool] = {}


def _default(value: object) -> object:
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, Decimal):
        return float(value)
    raise TypeError(type(value))


async def _init(connection: asyncpg.Connection) -> None:
    for name in ("json", "jsonb"):
        await connection.set_type_codec(
            name, encoder=json.dumps, decoder=json.loads, schema="pg_catalog"
        )


async def _keep_session(connection: asyncpg.Connection) -> None:
    """No reset query on release (no session state), as in Phresh: a fair ceiling."""


async def respond(send: Send, status: int, payload: Any) -> None:
    await send_json(send, status, json.dumps(payload, default=_default).encode(), [])


async def read_body(receive: Receive) -> bytes:
    chunks = []
    while True:
        message = await receive()
        chunks.append(message.get("body", b""))
        if not message.get("more_body"):
            return b"".join(chunks)


def user_json(row: Any) -> dict[str, Any]:
    user = dict(row)
    user.pop("token_version")
    user["access_token"] = None
    return user


async def current_user(pool: asyncpg.Pool, scope: Scope) -> Any:
    header = dict(scope["headers"]).get(b"authorization", b"").decode()
    claims = (
        tokens.read_access(header.removeprefix("Bearer ")) if header.startswith("Bearer ") else None
    )
    if claims is None:
        return None
    row = await pool.fetchrow(Q["get_user_by_id"].sql, claims.user_id)
    return row if row is not None and row["token_version"] == claims.token_version else None


async def login(pool: asyncpg.Pool, scope: Scope, receive: Receive, send: Send) -> None:
    form = parse_qs((await read_body(receive)).decode())
    email, password = form["username"][0], form["password"][0]
    address = scope["client"][0]
    hit = Q["hit_rate_limit"]
    await pool.fetchrow(
        hit.sql, *hit.args({"bucket": bucket("auth-address", address), "window_seconds": 60})
    )
    failures = bucket("login-failures", email.lower(), address)
    check = Q["get_rate_limit_hits"]
    await pool.fetchrow(check.sql, *check.args({"bucket": failures, "window_seconds": 900}))
    row = await pool.fetchrow(Q["get_user_credentials_by_email"].sql, email)
    if row is None or not await passwords.verify(row["password"], password):
        await respond(send, 401, {"detail": "Authentication was unsuccessful."})
        return
    await pool.execute(Q["clear_rate_limit"].sql, failures)
    refresh, token_hash = tokens.issue_random("refresh")
    create = Q["create_refresh_token"]
    await pool.execute(
        create.sql,
        *create.args(
            {
                "user_id": row["id"],
                "family_id": uuid.uuid4(),
                "token_hash": token_hash,
                "expire_days": 30,
            }
        ),
    )
    access = tokens.issue_access(user_id=row["id"], token_version=row["token_version"])
    await respond(
        send,
        200,
        {
            "access_token": access,
            "token_type": "bearer",
            "refresh_token": refresh,
            "expires_in": 3600,
        },
    )


async def handle(scope: Scope, receive: Receive, send: Send) -> None:
    pool = state["pool"]
    path, method = scope["path"], scope["method"]
    if path == "/api/users/login/token/" and method == "POST":
        await login(pool, scope, receive, send)
        return
    user = await current_user(pool, scope)
    if user is None:
        await respond(send, 401, {"detail": "Could not validate token credentials."})
        return
    parts = path.strip("/").split("/")
    if path == "/api/users/me/":
        await respond(send, 200, user_json(user))
    elif path == "/api/cleanings/" and method == "POST":
        new = json.loads(await read_body(receive))["new_cleaning"]
        row = await pool.fetchrow(
            Q["create_cleaning"].sql,
            new["name"],
            new.get("description"),
            Decimal(str(new["price"])).quantize(Decimal("0.01")),
            new.get("cleaning_type", "spot_clean"),
            user["id"],
        )
        await respond(send, 201, dict(row))
    elif path == "/api/feed/cleanings/":
        rows = await pool.fetch(Q["list_feed_events"].sql, NEWEST_TS, NEWEST_ID, 21, user["id"])
        await respond(send, 200, [dict(r) for r in rows[:20]])
    elif len(parts) == 4 and parts[:2] == ["api", "cleanings"] and parts[3] == "offers":
        cleaning_id = int(parts[2])
        owner = await pool.fetchval(Q["get_cleaning_owner"].sql, cleaning_id)
        if owner != user["id"]:
            await respond(send, 403, {"detail": "Unable to access offers."})
            return
        rows = await pool.fetch(Q["list_offers_for_cleaning"].sql, cleaning_id, OLDEST_TS, 0, 101)
        await respond(send, 200, [dict(r) for r in rows[:100]])
    elif len(parts) == 3 and parts[:2] == ["api", "cleanings"]:
        row = await pool.fetchrow(Q["get_cleaning_by_id"].sql, int(parts[2]), user["id"])
        await respond(
            send, 404 if row is None else 200, {"detail": "Not found"} if row is None else dict(row)
        )
    else:
        await respond(send, 404, {"detail": "Not Found"})


async def app(scope: Scope, receive: Receive, send: Send) -> None:
    if scope["type"] == "lifespan":
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                state["pool"] = await asyncpg.create_pool(
                    os.environ["DATABASE_URL"],
                    min_size=2,
                    max_size=10,
                    init=_init,
                    server_settings={"timezone": "UTC"},
                    reset=_keep_session,
                )
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                await state["pool"].close()
                await send({"type": "lifespan.shutdown.complete"})
                return
    await handle(scope, receive, send)
