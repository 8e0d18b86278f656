"""Database access: the only module that imports `databases` or the driver.

`databases` opens and closes the asyncpg pool (its URL parsing and pool options), and
every statement runs on a connection of that same pool through asyncpg directly:

- `databases` 0.9.0 leaks pool connections when a task is cancelled during BEGIN or
  COMMIT (encode/databases#460); asyncpg's own `Pool.release` is shielded and resets
  (rolls back) the connection, so cancellation at any point returns a usable connection.
- `databases` compiles every call through SQLAlchemy; our named queries are compiled once
  at load (`core/sql.py`), so a request pays nothing for it.

Transactions are task-local (a context variable holds the transaction's connection), so
query wrappers take no connection argument and simply join an open transaction.
"""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import json
import logging
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from contextlib import asynccontextmanager, contextmanager
from dataclasses import dataclass
from typing import Any, Protocol, TypeAlias
from urllib.parse import parse_qs, urlsplit

import asyncpg
import databases
import orjson

from backend.core.errors import DatabaseUnavailable, SchemaNotMigrated
from backend.core.sql import Query, guarded

logger = logging.getLogger("phresh.db")

Record: TypeAlias = Any  # asyncpg.Record (asyncpg ships no type information)
QueryObserver = Callable[[str, float], None]

# The connection this task's statements run on: an open transaction's (or, for a moment, the
# one a caller's check and the write after it share: `ReadGuard`).
_transaction_connection: contextvars.ContextVar[asyncpg.Connection | None] = contextvars.ContextVar(
    "phresh_transaction_connection", default=None
)


class WaitBudget:
    """A request's database waits share one budget, `lock_timeout`, counted from its first
    call to the database (see `Database._acquire`)."""

    __slots__ = ("bounded", "started")

    def __init__(self) -> None:
        self.started: float | None = None  # loop time of the first call
        self.bounded = False  # it waited for the pool: its statements get the rest

    def left(self, lock_timeout: float, now: float) -> float:
        return lock_timeout if self.started is None else self.started + lock_timeout - now


_wait_budget: contextvars.ContextVar[WaitBudget | None] = contextvars.ContextVar(
    "phresh_wait_budget", default=None
)


@contextmanager
def request_wait_budget() -> Iterator[None]:
    """One budget for every statement of the block (a request: LimitsMiddleware)."""
    token = _wait_budget.set(WaitBudget())
    try:
        yield
    finally:
        _wait_budget.reset(token)


class ReadGuard:
    """A check a request's answer waits for (the caller's token, core/auth.py), made in the
    same statement as the request's first read on `database` instead of a statement of its
    own: that read runs `guarded()` by `condition`, whose rows come back only if the check
    passes. Nothing of the request sees a result before the check has passed:

    - a guarded read that comes back with rows passed the check;
    - one that comes back empty (or NULL) may have failed it, so `check` runs on its own
      (it raises, e.g. 401) before the handler sees the empty result;
    - a write first runs `check` on its own first, on the connection the write then takes;
      a transaction first runs it as its first statement; an answer that comes before any
      statement runs it before the answer goes out (core/routing.py).

    Only the task that made the guard folds or runs it (a background job started by the
    request inherits the context variable, not the check), and only on `database` (a read
    replica cannot vouch for what the primary knows: its reads leave the check to the end)."""

    __slots__ = ("check", "condition", "database", "params", "passed", "pending", "task")

    def __init__(
        self,
        database: Database,
        condition: Query,
        params: dict[str, Any],
        check: Callable[[], Awaitable[None]],
    ) -> None:
        self.database = database
        self.condition = condition
        self.params = params
        self.check = check  # raises unless the check passes
        self.task = asyncio.current_task()
        self.pending = True  # may still be folded into a read
        self.passed = False

    def pending_on(self, database: Database) -> bool:
        return self.pending and database is self.database and asyncio.current_task() is self.task

    async def settle(self) -> None:
        """Make sure the check has passed: run it on its own unless a read already did."""
        if self.passed:
            return
        self.pending = False  # the check's own statement is not guarded by itself
        await self.check()
        self.passed = True


_read_guard: contextvars.ContextVar[ReadGuard | None] = contextvars.ContextVar(
    "phresh_read_guard", default=None
)


@contextmanager
def guarding_reads(guard: ReadGuard) -> Iterator[ReadGuard]:
    """Fold `guard` into the block's first read (see `ReadGuard`); settle it before answering."""
    token = _read_guard.set(guard)
    try:
        yield guard
    finally:
        _read_guard.reset(token)


# A pool wait longer than this means the pool is saturated (a free connection is handed
# over in microseconds; opening a new one takes a few milliseconds).
_SATURATED_AFTER = 0.05

# Errors that mean "the database cannot serve us right now", not "the request is wrong".
_UNAVAILABLE = (
    OSError,  # refused, unreachable, reset
    TimeoutError,  # connect, pool acquire or client-side command timeout
    asyncpg.PostgresConnectionError,  # class 08, incl. closed mid-operation
    asyncpg.exceptions.OperatorInterventionError,  # 57: statement timeout, admin/crash shutdown
    asyncpg.exceptions.InsufficientResourcesError,  # 53: disk full, out of memory, too many conns
    asyncpg.exceptions.LockNotAvailableError,  # 55P03 lock_timeout
    asyncpg.exceptions.ReadOnlySQLTransactionError,  # 25006 (a standby, or a read-only failover)
    asyncpg.exceptions.IdleInTransactionSessionTimeoutError,  # 25P03
    asyncpg.exceptions.TransactionRollbackError,  # 40: serialization failure, deadlock
)
# A table, column or function the code expects is missing: the schema is not migrated.
_SCHEMA_MISSING = (
    asyncpg.exceptions.UndefinedTableError,  # 42P01
    asyncpg.exceptions.UndefinedColumnError,  # 42703
    asyncpg.exceptions.UndefinedFunctionError,  # 42883
)
# A connection that broke under asyncpg's feet (the server ended the session, e.g. FATAL
# 57P01 on idle connections at shutdown, and a request picked it up in that instant):
# "cannot switch to state ...; another operation is in progress".
_BROKEN_CONNECTION = (asyncpg.exceptions.InternalClientError,)
# Safe to retry a read once: the statement never produced a result.
_RETRYABLE = (
    OSError,
    asyncpg.PostgresConnectionError,
    asyncpg.exceptions.CannotConnectNowError,
    asyncpg.exceptions.AdminShutdownError,
    *_BROKEN_CONNECTION,
)


class IntegrityError(Exception):
    """A constraint rejected a write; `constraint` names it (e.g. `users_email_lower_key`)."""

    def __init__(self, constraint: str | None, message: str) -> None:
        super().__init__(message)
        self.constraint = constraint


class InvalidInput(Exception):
    """PostgreSQL refused a value (class 22: out of range, bad text representation)."""


class SuperuserRefused(DatabaseUnavailable):
    """The configured role is a superuser, which production refuses: the service connects as
    a role that can only read and write rows (scripts/db-roles)."""

    def __init__(self) -> None:
        super().__init__("The service is misconfigured. Please retry later.")


@dataclass(frozen=True, slots=True)
class DatabaseOptions:
    """The timing budget and pool shape; every wait is bounded by one of these."""

    min_size: int = 0
    max_size: int = 10
    warm_size: int = 2
    connect_timeout: float = 1.0
    acquire_timeout: float = 2.0
    statement_timeout_ms: int = 5000
    lock_timeout_ms: int = 2000
    idle_in_transaction_timeout_ms: int = 10000
    statement_cache_size: int = 100
    # PgBouncer in transaction mode: a prepared statement lives on one server connection but
    # the next query may run on another (asyncpg's cache then runs the wrong statement or
    # fails), and startup parameters other than application_name are refused. So: no cache,
    # no startup parameters; the timeouts are the role's (`ALTER ROLE ... SET`).
    behind_pgbouncer: bool = False
    refuse_superuser: bool = False  # production: never run as a superuser


def _is_unavailable(error: BaseException) -> bool:
    if isinstance(error, asyncpg.InterfaceError):
        return "closed" in str(error) or "closing" in str(error)
    return isinstance(error, (*_UNAVAILABLE, *_BROKEN_CONNECTION))


async def _keep_session(connection: asyncpg.Connection) -> None:
    """Pool release hook: asyncpg still rolls back an open transaction before calling this,
    but skips its default reset query (`pg_advisory_unlock_all(); CLOSE ALL; UNLISTEN *;
    RESET ALL`), a round trip on every release. The app keeps no session state (no session
    SET, advisory locks, cursors or LISTEN), so there is nothing else to reset."""


async def _init_connection(connection: asyncpg.Connection) -> None:
    # orjson decodes the cards (user, offer, cleaning JSON built by the views) 3x faster than
    # the json module: a feed page carries 20 of them.
    for type_name in ("json", "jsonb"):
        await connection.set_type_codec(
            type_name, encoder=json.dumps, decoder=orjson.loads, schema="pg_catalog"
        )


class _DriverErrors:
    """Turns the driver's errors into the app's, around a statement (`name`) or a
    transaction: a constraint → IntegrityError, a refused value → InvalidInput, a missing
    table → SchemaNotMigrated, a database that cannot answer now → DatabaseUnavailable.
    Anything else (the app's own errors included) passes unchanged."""

    __slots__ = ("name",)

    def __init__(self, name: str) -> None:
        self.name = name

    def __enter__(self) -> None:
        return None

    def __exit__(self, kind: object, error: BaseException | None, trace: object) -> None:
        if error is None or not isinstance(error, Exception):
            return
        if isinstance(error, asyncpg.IntegrityConstraintViolationError):
            raise IntegrityError(error.constraint_name, str(error)) from error
        if isinstance(error, asyncpg.DataError):
            raise InvalidInput(str(error)) from error
        if isinstance(error, _SCHEMA_MISSING):
            message = "schema not migrated (%s): %s; run `alembic upgrade head`"
            logger.error(message, self.name, error)  # an operator's fix: no traceback
            raise SchemaNotMigrated from error
        if _is_unavailable(error):
            logger.warning("database unavailable in %s: %r", self.name, error)
            raise DatabaseUnavailable from error


def _abandon(connection: asyncpg.Connection | None) -> None:
    """The request deadline (or a client that left) cancelled us mid-statement, or the wait
    budget ran out. Releasing would wait for asyncpg's query cancel, which needs a new
    connection to the server: under a silent partition that wait has no bound. Drop the
    connection instead (the server rolls back a session that went away); the release then
    returns at once."""
    if connection is not None:
        # transaction() may have terminated it already, which detaches it from the pool: a
        # second terminate would raise InterfaceError over the cancellation.
        with contextlib.suppress(asyncpg.InterfaceError):
            connection.terminate()


class Reader(Protocol):
    """What a read-only query function needs: a `Database`, or `PublicReads` (which may
    answer from the read replica)."""

    async def fetch_one(self, query: Query, **params: Any) -> Record | None: ...
    async def fetch_row(self, query: Query, **params: Any) -> Record: ...
    async def fetch_all(self, query: Query, **params: Any) -> list[Record]: ...
    async def fetch_value(self, query: Query, **params: Any) -> Any: ...


class Database:
    """A lazily connected pool with bounded waits, named-query helpers and transactions."""

    def __init__(self, url: str, options: DatabaseOptions | None = None) -> None:
        self.url = url
        self.options = options or DatabaseOptions()
        opts = self.options
        server_settings = {"application_name": "phresh"}
        if not opts.behind_pgbouncer:
            server_settings |= {
                "timezone": "UTC",
                "statement_timeout": str(opts.statement_timeout_ms),
                "lock_timeout": str(opts.lock_timeout_ms),
                "idle_in_transaction_session_timeout": str(opts.idle_in_transaction_timeout_ms),
            }
        # `databases` ignores libpq's `sslmode` in the URL; hand it to asyncpg ourselves.
        sslmode = parse_qs(urlsplit(url).query).get("sslmode", [None])[-1]
        tls: dict[str, Any] = {"ssl": sslmode} if sslmode else {}
        self._databases = databases.Database(
            url,
            **tls,
            min_size=opts.min_size,
            max_size=opts.max_size,
            timeout=opts.connect_timeout,
            statement_cache_size=0 if opts.behind_pgbouncer else opts.statement_cache_size,
            server_settings=server_settings,
            init=self._init_connection,
            reset=_keep_session,
        )
        self._warm_task: asyncio.Task[None] | None = None
        self._turns = asyncio.Semaphore(opts.max_size)
        self.observers: list[QueryObserver] = []

    async def _init_connection(self, connection: asyncpg.Connection) -> None:
        # PostgreSQL reports is_superuser at login (PgBouncer passes the report on).
        if self.options.refuse_superuser and connection.get_settings().is_superuser == "on":
            logger.error(
                "refusing to use a superuser connection (role %r) in production; "
                "connect as the app role (scripts/db-roles)",
                connection.get_settings().session_authorization,
            )
            raise SuperuserRefused
        await _init_connection(connection)

    # -- lifecycle ---------------------------------------------------------------------

    async def connect(self) -> None:
        """Create the pool without touching the server (min_size 0), then warm it in the
        background: startup never depends on PostgreSQL being up. When superusers are
        refused and the database answers now, a superuser role fails the startup itself."""
        await self._databases.connect()
        self._turns = asyncio.Semaphore(self.options.max_size)  # bound to this loop on use
        if self.options.refuse_superuser:
            await self._refuse_superuser_now()
        if self.options.warm_size:
            self._warm_task = asyncio.create_task(self._warm(), name="phresh-db-warm")

    async def disconnect(self, timeout: float = 10.0) -> None:
        """Close gracefully; connections still busy after `timeout` are terminated."""
        if self._warm_task is not None:
            self._warm_task.cancel()
            await asyncio.gather(self._warm_task, return_exceptions=True)
        if not self._databases.is_connected:
            return
        pool = self.pool
        try:
            await asyncio.wait_for(self._databases.disconnect(), timeout)
        except TimeoutError:
            logger.warning("database pool did not close in %.0fs; terminating", timeout)
            pool.terminate()
            self._databases.is_connected = False
            self._databases._backend._pool = None

    async def _refuse_superuser_now(self) -> None:
        try:
            async with asyncio.timeout(self.options.connect_timeout):
                connection = await self.pool.acquire()
            await self.pool.release(connection)
        except SuperuserRefused:
            await self._databases.disconnect()
            raise
        except Exception as error:  # noqa: BLE001 (unreachable now: checked per connection)
            logger.info("role check deferred, database not reachable (%s)", type(error).__name__)

    async def _warm(self) -> None:
        delay = 0.5
        while True:
            try:
                connections = [
                    await self.pool.acquire(timeout=self.options.connect_timeout)
                    for _ in range(min(self.options.warm_size, self.options.max_size))
                ]
                for connection in connections:
                    await self.pool.release(connection)
                return
            except Exception as error:  # noqa: BLE001 (keep trying; readiness reports it)
                logger.info("database not reachable yet (%s); retrying", type(error).__name__)
                await asyncio.sleep(delay)
                delay = min(delay * 2, 10.0)

    @property
    def pool(self) -> asyncpg.Pool:
        pool = self._databases._backend._pool
        if pool is None:
            raise RuntimeError("Database.connect() has not been called")
        return pool

    def pool_stats(self) -> tuple[int, int, int]:
        """(open connections, connections in use, maximum size)."""
        if not self._databases.is_connected:
            return 0, 0, self.options.max_size
        pool = self.pool
        return pool.get_size(), pool.get_size() - pool.get_idle_size(), pool.get_max_size()

    # -- statements --------------------------------------------------------------------

    async def fetch_one(self, query: Query, **params: Any) -> Record | None:
        """The first row, or None."""
        return await self._run(query, "one", params)

    async def fetch_row(self, query: Query, **params: Any) -> Record:
        """The row of a statement that always returns one (INSERT ... RETURNING, aggregates)."""
        row = await self.fetch_one(query, **params)
        if row is None:
            raise RuntimeError(f"{query.name} returned no row")
        return row

    async def fetch_all(self, query: Query, **params: Any) -> list[Record]:
        """Every row."""
        rows: list[Record] = await self._run(query, "many", params)
        return rows

    async def fetch_value(self, query: Query, **params: Any) -> Any:
        """The first column of the first row, or None."""
        return await self._run(query, "value", params)

    async def execute(self, query: Query, **params: Any) -> None:
        """Run a statement for its effect."""
        await self._run(query, "exec", params)

    async def ping(self, timeout: float) -> None:
        """`SELECT 1` within `timeout` seconds, or raise DatabaseUnavailable."""
        try:
            async with asyncio.timeout(timeout):
                async with self.pool.acquire() as connection:
                    await connection.fetchval("SELECT 1")
        except Exception as error:
            if _is_unavailable(error):
                raise DatabaseUnavailable from error
            raise

    async def _run(self, query: Query, kind: str, params: dict[str, Any]) -> Any:
        if query.locks_rows and _transaction_connection.get() is None:
            # A programming error, whatever the input.
            raise RuntimeError(f"{query.name} locks rows outside a transaction: it locks nothing")
        guard = _read_guard.get()
        if guard is None or not guard.pending_on(self):
            return await self._execute(query, kind, params)
        if query.readonly and kind != "exec":
            result = await self._execute(
                guarded(query, guard.condition), kind, {**params, **guard.params}
            )
            if result is None or (kind == "many" and not result):
                await guard.settle()  # empty, or held back by a failed check: find out which
            else:
                guard.pending, guard.passed = False, True
            return result
        # A write: the check first, on the connection the write then takes (one acquire).
        with _DriverErrors(query.name):
            async with self._connection() as connection:
                token = _transaction_connection.set(connection)
                try:
                    await guard.settle()
                    return await self._execute(query, kind, params)
                finally:
                    _transaction_connection.reset(token)

    async def _execute(self, query: Query, kind: str, params: dict[str, Any]) -> Any:
        if query.kind != kind:
            raise TypeError(f"{query.name} is :{query.kind}, called as :{kind}")
        args = query.args(params)
        started = time.perf_counter()
        try:
            with _DriverErrors(query.name):
                connection = _transaction_connection.get()
                if connection is not None:
                    return await self._call(connection, query, args)
                try:
                    return await self._call_pooled(query, args)
                except _RETRYABLE as error:
                    if not query.readonly or isinstance(error, TimeoutError):
                        raise
                    logger.info("retrying read %s once after a connection error", query.name)
                    return await self._call_pooled(query, args)
        finally:
            elapsed = time.perf_counter() - started
            for observe in self.observers:
                observe(query.name, elapsed)

    @asynccontextmanager
    async def _connection(self) -> AsyncIterator[asyncpg.Connection]:
        """A pooled connection for a block (a transaction, or a caller's check and the
        write after it), see `_acquire`."""
        budget, token = _wait_budget.get(), None
        if budget is None:  # outside a request: a budget for this connection only
            budget = WaitBudget()
            token = _wait_budget.set(budget)
        connection = None
        try:
            connection = await self._acquire(budget)
            yield connection
        except (asyncio.CancelledError, TimeoutError):
            _abandon(connection)
            raise
        finally:
            if token is not None:
                _wait_budget.reset(token)
            if connection is not None:
                await self._release(connection)

    async def _call_pooled(self, query: Query, args: list[Any]) -> Any:
        """One statement on a pooled connection: `_connection` written out, as every
        statement outside a transaction takes this path."""
        budget = _wait_budget.get() or WaitBudget()
        connection = await self._acquire(budget)
        try:
            return await self._call(connection, query, args, budget)
        except (asyncio.CancelledError, TimeoutError):
            _abandon(connection)
            raise
        finally:
            await self._release(connection)

    async def _acquire(self, budget: WaitBudget) -> asyncpg.Connection:
        """A pooled connection, the wait for it bounded by `acquire_timeout` (or less).

        Callers get connections in the order they asked (`_turns`, a FIFO semaphore of the
        pool's size, in front of asyncpg's queue). asyncpg alone lets a caller that runs
        between a release and the wake-up of the waiter it wakes take the connection, and
        puts the waiter back at the end of the line; under uvloop a request just read from a
        socket runs exactly then, and at 64 connections on 2 workers the pool waits had a
        median of 10 µs and a p99 of 114 ms (the bench's `/me`: p99 1.9-2.1x the ceiling's).

        `asyncio.timeout` costs a timer (about 8 µs), so it is armed only when every turn is
        taken; with a turn free the pool hands a connection over at once (or opens one,
        bounded by connect_timeout). asyncpg's own `acquire(timeout=)` would start a task
        per call. The release (shielded by asyncpg) runs even when the deadline fires just
        after the connection was handed over.

        Pool and lock waits would otherwise stack: up to `acquire_timeout` for a connection,
        then `lock_timeout` for a lock, for each statement. They share one budget instead,
        `lock_timeout` from the request's first call: a request that has used it up waits
        for a busy pool no longer than a hand-over takes, and once it has waited for the
        pool its statements get a client-side timeout of what is left."""
        loop = asyncio.get_running_loop()
        started = loop.time()
        first = budget.started is None
        if first:
            budget.started = started
        if not self._turns.locked():
            connection = await self._acquire_in_turn()
        else:
            limit = self.options.acquire_timeout
            lock_timeout = self.options.lock_timeout_ms / 1000
            if lock_timeout and not first:
                limit = min(limit, max(_SATURATED_AFTER, budget.left(lock_timeout, started)))
            async with asyncio.timeout(limit):
                connection = await self._acquire_in_turn()
        if loop.time() - started > _SATURATED_AFTER:
            budget.bounded = True
        return connection

    async def _acquire_in_turn(self) -> asyncpg.Connection:
        """A turn (callers are served in the order they asked), then a connection."""
        await self._turns.acquire()
        try:
            return await self.pool.acquire()
        except BaseException:
            self._turns.release()
            raise

    async def _release(self, connection: asyncpg.Connection) -> None:
        try:
            await self.pool.release(connection)
        finally:
            self._turns.release()

    async def _call(
        self,
        connection: asyncpg.Connection,
        query: Query,
        args: list[Any],
        budget: WaitBudget | None = None,
    ) -> Any:
        # Normally no client-side timeout: the server's statement_timeout bounds a slow
        # statement, the request deadline (LimitsMiddleware) a server that went silent.
        # After a wait for the pool, what is left of the lock budget (see `_acquire`).
        timeout = None
        budget = budget or _wait_budget.get()
        if budget is not None and budget.bounded and self.options.lock_timeout_ms:
            now = asyncio.get_running_loop().time()
            timeout = max(0.001, budget.left(self.options.lock_timeout_ms / 1000, now))
        if query.kind == "one":
            return await connection.fetchrow(query.sql, *args, timeout=timeout)
        if query.kind == "many":
            return await connection.fetch(query.sql, *args, timeout=timeout)
        if query.kind == "value":
            return await connection.fetchval(query.sql, *args, timeout=timeout)
        await connection.execute(query.sql, *args, timeout=timeout)
        return None

    # -- transactions ------------------------------------------------------------------

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[None]:
        """Run the block's queries in one transaction (a savepoint when nested).

        Cancellation-safe: if the task is cancelled anywhere (BEGIN, a statement, COMMIT),
        asyncpg's shielded release rolls the connection back and returns it to the pool.
        """
        current = _transaction_connection.get()
        guard = _read_guard.get()
        if current is not None or guard is None or not guard.pending_on(self):
            guard = None
        with _DriverErrors("a transaction"):
            if current is not None:
                async with current.transaction():
                    yield
                return
            async with self._connection() as connection:
                token = _transaction_connection.set(connection)
                abandoned: BaseException | None = None
                try:
                    async with connection.transaction():
                        try:
                            if guard is not None:  # first: nothing is written for a caller
                                await guard.settle()  # who fails the check
                            yield
                        except (asyncio.CancelledError, TimeoutError) as error:
                            # Cancelled by the deadline, or out of wait budget: no ROLLBACK
                            # round trip (it could wait on a dead network, or on asyncpg's
                            # query cancel): terminate, and the server rolls back.
                            abandoned = error
                            connection.terminate()
                            raise
                except asyncpg.InterfaceError:
                    if abandoned is not None:  # the ROLLBACK found it closed, as intended
                        raise abandoned from None
                    raise
                finally:
                    _transaction_connection.reset(token)
