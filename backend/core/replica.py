"""Public reads, on a streaming read replica when one is configured (DATABASE_REPLICA_URL).

Handlers pass `ctx.reads` instead of `ctx.db` for reads whose answer need not show the
caller's own latest write (the feed, another user's cleaning, profiles, evaluations). Those
go to the replica while it is *fresh*: everything the primary had committed at most
`max_lag` seconds ago is visible on it. Otherwise, and when a replica read fails, the
primary answers: a replica that is down or behind costs no request.

Freshness is measured, not trusted from the replica's own clock: every `max_lag / 4`
seconds the monitor samples the primary's WAL position, then asks the replica how far it
has replayed. The newest sample the replica has reached was taken at time T, so it shows
at least what was committed before T, and stays fresh until T + max_lag.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections import deque
from collections.abc import Awaitable, Callable
from typing import Any, Literal, TypeVar

from backend.core import queries
from backend.core.db import Database, Reader, Record
from backend.core.errors import DatabaseUnavailable
from backend.core.sql import Query

logger = logging.getLogger("phresh.replica")

T = TypeVar("T")
ReplicaState = Literal["none", "fresh", "behind", "down"]

_DOWN_RETRY_MAX = 2.0  # seconds between checks of a replica that is down
_SAMPLES_KEPT = 1000  # at max_lag / 4 per sample: minutes of history for a stalled replica


class PublicReads:
    """Routes public reads to the replica while it is fresh, else to the primary."""

    def __init__(
        self, primary: Database, replica: Database | None = None, *, max_lag: float = 1.0
    ) -> None:
        self.primary = primary
        self.replica = replica
        self.max_lag = max_lag
        self.interval = max(0.05, max_lag / 4)
        self._samples: deque[tuple[float, int]] = deque(maxlen=_SAMPLES_KEPT)
        self._fresh_until = 0.0  # loop time
        self._reached_at: float | None = None  # when the newest sample it replayed was taken
        self._down = replica is not None
        self._monitor: asyncio.Task[None] | None = None
        # Told the state after every check (metrics): kept current without any traffic.
        self.watchers: list[Callable[[ReplicaState, float | None], None]] = []

    # -- reads ---------------------------------------------------------------------------

    async def fetch_one(self, query: Query, **params: Any) -> Record | None:
        return await self.read(lambda db: db.fetch_one(query, **params))

    async def fetch_row(self, query: Query, **params: Any) -> Record:
        return await self.read(lambda db: db.fetch_row(query, **params))

    async def fetch_all(self, query: Query, **params: Any) -> list[Record]:
        return await self.read(lambda db: db.fetch_all(query, **params))

    async def fetch_value(self, query: Query, **params: Any) -> Any:
        return await self.read(lambda db: db.fetch_value(query, **params))

    async def read(
        self,
        read: Callable[[Reader], Awaitable[T]],
        *,
        primary_if: Callable[[T], bool] | None = None,
    ) -> T:
        """`read` on the replica while it is fresh, else on the primary. `primary_if`: the
        answer concerns the caller (their own row, or one the replica may not have yet), so
        the primary answers again."""
        if self.replica is None or not self.is_fresh():
            return await read(self.primary)
        try:
            result = await read(self.replica)
        except DatabaseUnavailable:
            self._mark_down("a read failed")
            return await read(self.primary)
        if primary_if is not None and primary_if(result):
            return await read(self.primary)
        return result

    def is_fresh(self) -> bool:
        return asyncio.get_running_loop().time() < self._fresh_until

    def state(self) -> tuple[ReplicaState, float | None]:
        """For /health/ready: the replica's state and its measured lag bound (seconds)."""
        if self.replica is None:
            return "none", None
        if self._down:
            return "down", None
        lag = None
        if self._reached_at is not None:
            lag = round(asyncio.get_running_loop().time() - self._reached_at, 3)
        return ("fresh" if self.is_fresh() else "behind"), lag

    # -- the lag monitor -----------------------------------------------------------------

    async def start(self) -> None:
        if self.replica is not None and self._monitor is None:
            await self.replica.connect()
            self._monitor = asyncio.create_task(self._watch(), name="replica-lag-monitor")

    async def stop(self) -> None:
        if self._monitor is not None:
            self._monitor.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._monitor
            self._monitor = None
        if self.replica is not None:
            await self.replica.disconnect()

    async def _watch(self) -> None:
        pause = self.interval
        while True:
            try:
                async with asyncio.timeout(max(1.0, self.max_lag)):
                    await self.check()
                pause = self.interval
            except (DatabaseUnavailable, TimeoutError) as error:
                self._mark_down(repr(error))
                pause = min(_DOWN_RETRY_MAX, pause * 2)  # a down replica is polled less
            except Exception:
                logger.exception("replica lag check failed")
            await asyncio.sleep(pause)

    async def check(self) -> None:
        """One sample of the primary's position, then the replica's replay position."""
        assert self.replica is not None
        loop = asyncio.get_running_loop()
        with contextlib.suppress(DatabaseUnavailable):  # primary down: no sample this time
            position = await queries.primary_wal_position(self.primary)
            self._samples.append((loop.time(), position))
        replayed = await queries.replayed_wal_position(self.replica)
        while self._samples and self._samples[0][1] <= replayed:
            self._reached_at = self._samples.popleft()[0]
        if self._reached_at is not None:
            self._fresh_until = self._reached_at + self.max_lag
        if self._down:
            self._down = False
            logger.info("read replica answering again; reads go to it while fresh")
        self._report()

    def _mark_down(self, why: str) -> None:
        self._fresh_until = 0.0
        if not self._down:
            self._down = True
            logger.warning("read replica unavailable (%s): the primary serves reads", why)
        self._report()

    def _report(self) -> None:
        state, lag = self.state()
        for watcher in self.watchers:
            watcher(state, lag)
