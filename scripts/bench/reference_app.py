"""The benchmark's ceiling, independent of Phresh: it imports nothing from `backend/`.

Raw ASGI on uvicorn (uvloop, httptools), 2 processes sharing the port with SO_REUSEPORT; no
framework; the asyncpg pool used directly (prepared, cached statements); orjson in and out;
a stdlib-HMAC token carrying the user id and expiry; authentication is one primary-key
lookup; one joined statement per logical read; JSON built in Python from the rows. It
answers the benchmark's requests with the same response shapes as Phresh (emails hidden
from other viewers included), and nothing else.

    python scripts/bench/reference_app.py --port 8001 --processes 2   (DATABASE_URL, SECRET_KEY)
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import hashlib
import hmac
import multiprocessing
import os
import signal
import socket
import sys
import time
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any
from urllib.parse import parse_qs

import asyncpg
import orjson
import uvicorn
from argon2 import PasswordHasher
from argon2.exceptions import VerificationError

Scope = dict[str, Any]
Receive = Any
Send = Any

SECRET = os.environ.get("SECRET_KEY", "reference-secret").encode()
TOKEN_TTL = 3600
FAR_FUTURE_TS = datetime(9999, 12, 31, tzinfo=UTC)

USER_COLUMNS = (
    "{u}.id AS {p}id, {u}.username AS {p}username, {u}.email AS {p}email, "
    "{u}.email_verified AS {p}email_verified, {u}.is_active AS {p}is_active, "
    "{u}.is_superuser AS {p}is_superuser, {u}.created_at AS {p}created_at, "
    "{u}.updated_at AS {p}updated_at, {pr}.id AS {p}profile_id, {pr}.full_name AS {p}full_name, "
    "{pr}.phone_number AS {p}phone_number, {pr}.bio AS {p}bio, {pr}.image AS {p}image, "
    "{pr}.created_at AS {p}profile_created_at, {pr}.updated_at AS {p}profile_updated_at"
)


def user_columns(users: str, profiles: str, prefix: str) -> str:
    return USER_COLUMNS.format(u=users, pr=profiles, p=prefix)


AUTHENTICATE = "SELECT id, is_active FROM users WHERE id = $1"
CREDENTIALS = "SELECT id, password, is_active FROM users WHERE lower(email) = lower($1)"
ME = (
    f"SELECT {user_columns('u', 'p', '')} FROM users u JOIN profiles p ON p.user_id = u.id "
    "WHERE u.id = $1"
)
_CLEANING = (
    "c.id, c.name, c.description, c.price, c.cleaning_type, c.created_at, c.updated_at, "
    "(SELECT count(*) FROM offers n WHERE n.cleaning_id = c.id) AS total_offers, "
    f"{user_columns('ou', 'op', 'owner_')}, "
    "o.user_id AS offer_user_id, o.status AS offer_status, o.created_at AS offer_created_at, "
    f"o.updated_at AS offer_updated_at, {user_columns('fu', 'fp', 'offerer_')}"
)
_CLEANING_JOINS = (
    "JOIN users ou ON ou.id = c.owner JOIN profiles op ON op.user_id = ou.id "
    "LEFT JOIN offers o ON o.cleaning_id = c.id AND (c.owner = $2 OR o.user_id = $2) "
    "LEFT JOIN users fu ON fu.id = o.user_id LEFT JOIN profiles fp ON fp.user_id = fu.id"
)
CLEANING = (
    f"SELECT {_CLEANING} FROM cleanings c {_CLEANING_JOINS} WHERE c.id = $1 "
    "ORDER BY o.created_at, o.user_id"
)
CREATE = (
    "WITH c AS (INSERT INTO cleanings (name, description, price, cleaning_type, owner) "
    "VALUES ($1, $2, $3, $4, $5) RETURNING *) "
    f"SELECT c.id, c.name, c.description, c.price, c.cleaning_type, c.created_at, c.updated_at, "
    f"{user_columns('u', 'p', 'owner_')} "
    "FROM c JOIN users u ON u.id = c.owner JOIN profiles p ON p.user_id = u.id"
)
FEED = (
    "WITH page AS (SELECT id, ts, kind FROM ("
    "(SELECT id, created_at AS ts, 'is_create' AS kind FROM cleanings "
    "WHERE (created_at, id) < ($2::timestamptz, $3::bigint) ORDER BY created_at DESC, id DESC LIMIT $4) "
    "UNION ALL "
    "(SELECT id, updated_at AS ts, 'is_update' AS kind FROM cleanings WHERE updated_at <> created_at "
    "AND (updated_at, id) < ($2::timestamptz, $3::bigint) ORDER BY updated_at DESC, id DESC LIMIT $4)"
    ") e ORDER BY ts DESC, id DESC LIMIT $4) "
    f"SELECT page.ts, page.kind, {_CLEANING} FROM page JOIN cleanings c ON c.id = page.id "
    f"{_CLEANING_JOINS.replace('$2', '$1')} "
    "ORDER BY page.ts DESC, page.id DESC, o.created_at, o.user_id"
)
OFFERS = (
    "SELECT c.owner, o.user_id, o.cleaning_id, o.status, o.created_at, o.updated_at, "
    f"{user_columns('u', 'p', 'offerer_')} FROM cleanings c "
    "LEFT JOIN offers o ON o.cleaning_id = c.id LEFT JOIN users u ON u.id = o.user_id "
    "LEFT JOIN profiles p ON p.user_id = u.id WHERE c.id = $1 "
    "ORDER BY o.created_at, o.user_id LIMIT 101"
)

state: dict[str, asyncpg.Pool] = {}
hasher = PasswordHasher()


# -- tokens: HMAC-SHA256 over "user_id.expiry" ----------------------------------------------


def _sign(payload: bytes) -> str:
    return base64.urlsafe_b64encode(hmac.new(SECRET, payload, hashlib.sha256).digest()).decode()


def issue_token(user_id: int) -> str:
    payload = f"{user_id}.{int(time.time()) + TOKEN_TTL}".encode()
    return base64.urlsafe_b64encode(payload).decode() + "." + _sign(payload)


def read_token(token: str) -> int | None:
    encoded, _, signature = token.partition(".")
    try:
        payload = base64.urlsafe_b64decode(encoded)
    except ValueError:
        return None
    if not hmac.compare_digest(signature, _sign(payload)):
        return None
    user_id, _, expiry = payload.decode().partition(".")
    return int(user_id) if int(expiry) > time.time() else None


# -- JSON from rows --------------------------------------------------------------------------


def _default(value: object) -> object:
    if isinstance(value, Decimal):
        return float(value)
    raise TypeError(type(value))


def user_json(row: Any, prefix: str, viewer: int) -> dict[str, Any]:
    user_id = row[prefix + "id"]
    email = row[prefix + "email"] if user_id == viewer else None
    return {
        "created_at": row[prefix + "created_at"],
        "updated_at": row[prefix + "updated_at"],
        "id": user_id,
        "username": row[prefix + "username"],
        "email": email,
        "email_verified": row[prefix + "email_verified"],
        "is_active": row[prefix + "is_active"],
        "is_superuser": row[prefix + "is_superuser"],
        "profile": {
            "created_at": row[prefix + "profile_created_at"],
            "updated_at": row[prefix + "profile_updated_at"],
            "id": row[prefix + "profile_id"],
            "full_name": row[prefix + "full_name"],
            "phone_number": row[prefix + "phone_number"],
            "bio": row[prefix + "bio"],
            "image": row[prefix + "image"],
            "user_id": user_id,
            "username": row[prefix + "username"],
            "email": email,
        },
        "access_token": None,
    }


def cleaning_json(row: Any, viewer: int) -> dict[str, Any]:
    return {
        "created_at": row["created_at"],
        "updated_at": row["updated_at"],
        "id": row["id"],
        "name": row["name"],
        "description": row["description"],
        "price": row["price"],
        "cleaning_type": row["cleaning_type"],
        "owner": user_json(row, "owner_", viewer),
        "total_offers": row.get("total_offers", 0),
        "offers": [],
    }


def offer_json(row: Any, prefix: str, viewer: int, cleaning_id: int) -> dict[str, Any]:
    return {
        "created_at": row[prefix + "created_at"],
        "updated_at": row[prefix + "updated_at"],
        "user_id": row[prefix + "user_id"],
        "cleaning_id": cleaning_id,
        "status": row[prefix + "status"],
        "user": user_json(row, "offerer_", viewer),
    }


def cleanings_with_offers(rows: list[Any], viewer: int, *, feed: bool) -> list[dict[str, Any]]:
    """Rows of one cleaning (or feed event) per offer the viewer may see, folded."""
    items: list[dict[str, Any]] = []
    last = None
    for row in rows:
        key = (row["ts"], row["id"], row["kind"]) if feed else row["id"]
        if key != last:
            last = key
            items.append(cleaning_json(row, viewer))
            if feed:
                items[-1] |= {
                    "row_number": len(items),
                    "event_timestamp": row["ts"],
                    "event_type": row["kind"],
                }
        if row["offer_user_id"] is not None:
            items[-1]["offers"].append(offer_json(row, "offer_", viewer, row["id"]))
    return items


# -- ASGI ------------------------------------------------------------------------------------


async def respond(send: Send, status: int, payload: object) -> None:
    body = orjson.dumps(payload, default=_default)
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(body)).encode()),
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})


async def read_body(receive: Receive) -> bytes:
    chunks = []
    while True:
        message = await receive()
        chunks.append(message.get("body", b""))
        if not message.get("more_body"):
            return b"".join(chunks)


async def login(pool: asyncpg.Pool, receive: Receive, send: Send) -> None:
    form = parse_qs((await read_body(receive)).decode())
    row = await pool.fetchrow(CREDENTIALS, form["username"][0])
    try:
        ok = (
            row is not None
            and row["is_active"]
            and await asyncio.to_thread(hasher.verify, row["password"], form["password"][0])
        )
    except VerificationError:
        ok = False
    if not ok:
        await respond(send, 401, {"detail": "Authentication was unsuccessful."})
        return
    await respond(send, 200, {"access_token": issue_token(row["id"]), "token_type": "bearer"})


async def authenticate(pool: asyncpg.Pool, scope: Scope) -> int | None:
    header = next((v for k, v in scope["headers"] if k == b"authorization"), b"").decode()
    viewer = read_token(header[7:]) if header.startswith("Bearer ") else None
    user = await pool.fetchrow(AUTHENTICATE, viewer) if viewer is not None else None
    return viewer if user is not None and user["is_active"] else None


async def handle(scope: Scope, receive: Receive, send: Send) -> None:
    pool = state["pool"]
    if scope["path"] == "/api/users/login/token/" and scope["method"] == "POST":
        await login(pool, receive, send)
        return
    viewer = await authenticate(pool, scope)
    if viewer is None:
        await respond(send, 401, {"detail": "Could not validate token credentials."})
        return
    await route(pool, viewer, scope, receive, send)


async def route(
    pool: asyncpg.Pool, viewer: int, scope: Scope, receive: Receive, send: Send
) -> None:
    path, method = scope["path"], scope["method"]
    parts = path.strip("/").split("/")
    if path == "/api/users/me/":
        await respond(send, 200, user_json(await pool.fetchrow(ME, viewer), "", viewer))
    elif path == "/api/cleanings/" and method == "POST":
        new = orjson.loads(await read_body(receive))["new_cleaning"]
        price = Decimal(str(new["price"])).quantize(Decimal("0.01"))
        row = await pool.fetchrow(
            CREATE,
            new["name"],
            new.get("description"),
            price,
            new.get("cleaning_type", "spot_clean"),
            viewer,
        )
        await respond(send, 201, cleaning_json(row, viewer))
    elif path == "/api/feed/cleanings/":
        rows = await pool.fetch(FEED, viewer, FAR_FUTURE_TS, 2**63 - 1, 21)
        items = cleanings_with_offers(rows, viewer, feed=True)
        await respond(send, 200, items[:20])
    elif len(parts) == 4 and parts[:2] == ["api", "cleanings"] and parts[3] == "offers":
        rows = await pool.fetch(OFFERS, int(parts[2]))
        if not rows:
            await respond(send, 404, {"detail": "No cleaning found with that id."})
        elif rows[0]["owner"] != viewer:
            await respond(send, 403, {"detail": "Unable to access offers."})
        else:
            offers = [offer_json(r, "", viewer, r["cleaning_id"]) for r in rows if r["user_id"]]
            await respond(send, 200, offers[:100])
    elif len(parts) == 3 and parts[:2] == ["api", "cleanings"]:
        rows = await pool.fetch(CLEANING, int(parts[2]), viewer)
        if not rows:
            await respond(send, 404, {"detail": "No cleaning found with that id."})
        else:
            await respond(send, 200, cleanings_with_offers(rows, viewer, feed=False)[0])
    else:
        await respond(send, 404, {"detail": "Not Found"})


async def keep_session(connection: asyncpg.Connection) -> None:
    """No reset query on release (`pg_advisory_unlock_all(); CLOSE ALL; UNLISTEN *; RESET
    ALL`, a round trip per statement): this app keeps no session state."""


async def app(scope: Scope, receive: Receive, send: Send) -> None:
    if scope["type"] == "lifespan":
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                # The variable Phresh reads too, so a bench can size both pools alike.
                max_size = int(os.environ.get("DB_POOL_MAX_SIZE", "10"))
                state["pool"] = await asyncpg.create_pool(
                    os.environ["DATABASE_URL"],
                    min_size=min(2, max_size),
                    max_size=max_size,
                    reset=keep_session,
                )
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                await state["pool"].close()
                await send({"type": "lifespan.shutdown.complete"})
                return
    await handle(scope, receive, send)


# -- processes ---------------------------------------------------------------------------------


def serve(port: int) -> None:
    """One process with its own listening socket on the shared port (SO_REUSEPORT: the
    kernel spreads connections). Handed to uvicorn as a socket object: its `fd=` option
    would treat it as a Unix socket, and accepted connections would then miss
    TCP_NODELAY (40 ms delayed-ACK stalls)."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
    sock.bind(("127.0.0.1", port))
    config = uvicorn.Config(
        app,
        loop="uvloop",
        http="httptools",
        lifespan="on",
        log_level="warning",
        access_log=False,
    )
    uvicorn.Server(config).run(sockets=[sock])


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--processes", type=int, default=2)
    args = parser.parse_args()
    children = [
        multiprocessing.get_context("fork").Process(target=serve, args=(args.port,))
        for _ in range(args.processes)
    ]
    for child in children:
        child.start()

    def stop(*_: object) -> None:
        for child in children:
            if child.pid:
                os.kill(child.pid, signal.SIGTERM)

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    for child in children:
        child.join()
    return 0


if __name__ == "__main__":
    sys.exit(main())
