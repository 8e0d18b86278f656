"""Prometheus metrics, per app instance (no module-level registry).

Under gunicorn every worker writes its values to files in PROMETHEUS_MULTIPROC_DIR
(prometheus-client's multiprocess mode; gunicorn.conf.py sets the folder, wipes it when the
master starts and marks dead workers), and one scrape of any worker reports the sum over all
workers. Without that variable (uvicorn, tests) values live in this process.

In multiprocess mode every value change is a locked write to a memory-mapped file, and a
request made nine of them (about 40 µs of a 480 µs request, measured in-process). So only
the request counter is written per request (a scrape sums it exactly over the workers);
latency observations are counted in this process and written once a second, at a scrape of
this worker and when it stops (`BufferedHistogram`); the in-progress gauge is sampled with
the pool gauges. Another worker's latencies can thus reach a scrape up to a second late.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import resource
import time
from bisect import bisect_left

from prometheus_client import (
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    ProcessCollector,
    generate_latest,
    multiprocess,
)
from starlette.types import Scope

from backend.core.db import Database
from backend.core.replica import PublicReads, ReplicaState

LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)
QUERY_BUCKETS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 5.0)
_PROCESS_REFRESH_SECONDS = 5.0
_WRITE_SECONDS = 1.0  # pool and in-progress gauges sampled, buffered latencies written


def current_rss_bytes() -> int:
    """Resident memory now (Linux /proc), else the peak."""
    try:
        with open("/proc/self/statm", encoding="ascii") as statm:
            return int(statm.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
    except OSError:
        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024


def multiprocess_dir() -> str | None:
    return os.environ.get("PROMETHEUS_MULTIPROC_DIR") or None


class BufferedHistogram:
    """One labelled histogram's observations, counted here and added to the histogram by
    `flush` (its sum and the bucket of each observation, as `Histogram.observe` does)."""

    __slots__ = ("_bounds", "_child", "_counts", "_sum")

    def __init__(self, child: Histogram) -> None:
        self._child = child
        self._bounds: list[float] = list(child._upper_bounds)  # ends with +Inf
        self._counts = [0] * len(self._bounds)
        self._sum = 0.0

    def observe(self, seconds: float) -> None:
        self._counts[bisect_left(self._bounds, seconds)] += 1  # the first bound >= seconds
        self._sum += seconds

    def flush(self) -> None:
        counts, self._counts = self._counts, [0] * len(self._bounds)
        if not any(counts):
            return
        self._child._sum.inc(self._sum)
        self._sum = 0.0
        for bucket, count in zip(self._child._buckets, counts, strict=True):
            if count:
                bucket.inc(count)


class Metrics:
    """Request, database-pool, query and worker-process metrics of one app."""

    def __init__(self, db: Database, reads: PublicReads | None = None) -> None:
        self.db = db
        self.registry = CollectorRegistry(auto_describe=True)
        r = self.registry
        self.requests = Counter(
            "phresh_http_requests",
            "HTTP requests served.",
            ["route", "method", "status"],
            registry=r,
        )
        self.latency = Histogram(
            "phresh_http_request_duration_seconds",
            "Time to serve a request.",
            ["route", "method", "status"],
            buckets=LATENCY_BUCKETS,
            registry=r,
        )

        def summed_gauge(name: str, documentation: str) -> Gauge:
            """A gauge that a multiprocess scrape sums over the live workers."""
            return Gauge(name, documentation, registry=r, multiprocess_mode="livesum")

        self.in_flight = summed_gauge(
            "phresh_http_requests_in_progress", "Requests being served now."
        )
        self.pool_size = summed_gauge("phresh_db_pool_connections", "Open database connections.")
        self.pool_in_use = summed_gauge(
            "phresh_db_pool_connections_in_use", "Database connections checked out."
        )
        self.pool_max = summed_gauge("phresh_db_pool_connections_max", "Pool capacity.")
        self.query_latency = Histogram(
            "phresh_db_query_duration_seconds",
            "Time of one named query.",
            ["query"],
            buckets=QUERY_BUCKETS,
            registry=r,
        )
        self.worker_rss = Gauge(
            "phresh_worker_resident_memory_bytes",
            "Resident memory of each worker process.",
            registry=r,
            multiprocess_mode="liveall",
        )
        self.worker_cpu = Gauge(
            "phresh_worker_cpu_seconds",
            "CPU time used by each worker process.",
            registry=r,
            multiprocess_mode="liveall",
        )
        self.replica_fresh = Gauge(
            "phresh_db_replica_fresh",
            "1 while public reads go to the read replica (every worker), else 0.",
            registry=r,
            multiprocess_mode="livemin",
        )
        self.replica_lag = Gauge(
            "phresh_db_replica_lag_seconds",
            "How far behind the read replica was last measured (the largest of the workers').",
            registry=r,
            multiprocess_mode="livemax",
        )
        if multiprocess_dir() is None:
            ProcessCollector(registry=r)
        # Labelled children, looked up once (route templates and query names are bounded).
        self._request_series: dict[tuple[str, str, int], tuple[Counter, BufferedHistogram]] = {}
        self._query_series: dict[str, BufferedHistogram] = {}
        self._buffered: list[BufferedHistogram] = []
        self._requests_in_flight = 0
        self._process_refreshed = 0.0
        self._written = 0.0
        self._flusher: asyncio.Task[None] | None = None
        db.observers.append(self.observe_query)
        self.reads = reads
        if reads is not None:
            reads.watchers.append(self.observe_replica)

    def request_started(self) -> None:
        self._requests_in_flight += 1

    def request_finished(self, route: str, scope: Scope, status: int, seconds: float) -> None:
        key = (route, scope["method"], status)
        series = self._request_series.get(key)
        if series is None:
            labels = (route, scope["method"], str(status))
            latency = self._buffer(self.latency.labels(*labels))
            series = self._request_series[key] = (self.requests.labels(*labels), latency)
        series[0].inc()
        series[1].observe(seconds)
        self._requests_in_flight -= 1
        self._refresh_gauges()

    def observe_query(self, name: str, seconds: float) -> None:
        series = self._query_series.get(name)
        if series is None:
            series = self._query_series[name] = self._buffer(self.query_latency.labels(name))
        series.observe(seconds)

    def _buffer(self, child: Histogram) -> BufferedHistogram:
        buffered = BufferedHistogram(child)
        self._buffered.append(buffered)
        return buffered

    def flush(self) -> None:
        """Write the latencies counted since the last flush."""
        for series in self._buffered:
            series.flush()

    async def start(self) -> None:
        """Flush once a second, so an idle worker's latencies reach the next scrape too."""
        if self._flusher is None:
            self._flusher = asyncio.create_task(self._flush_regularly(), name="metrics-flush")

    async def stop(self) -> None:
        if self._flusher is not None:
            self._flusher.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._flusher
            self._flusher = None
        self.flush()

    async def _flush_regularly(self) -> None:
        """An idle worker's latencies and in-progress count are written too."""
        while True:
            await asyncio.sleep(_WRITE_SECONDS)
            self._refresh_gauges()

    def observe_replica(self, state: ReplicaState, lag: float | None) -> None:
        """After each lag check of this worker (so an idle worker's value stays current, to
        within one check interval), and when scraped (so the scraping worker's is exact)."""
        self.replica_fresh.set(1 if state == "fresh" else 0)
        if lag is not None:
            self.replica_lag.set(lag)

    def _refresh_gauges(self, force: bool = False) -> None:
        """Gauges are sampled, and buffered latencies written, at most once a second per
        worker (each write is a file write in multiprocess mode), and always when scraped."""
        now = time.monotonic()
        if force or now - self._written >= _WRITE_SECONDS:
            self._written = now
            self.flush()
            self.in_flight.set(self._requests_in_flight)
            size, in_use, maximum = self.db.pool_stats()
            self.pool_size.set(size)
            self.pool_in_use.set(in_use)
            self.pool_max.set(maximum)
        if force or now - self._process_refreshed > _PROCESS_REFRESH_SECONDS:
            self._process_refreshed = now
            usage = resource.getrusage(resource.RUSAGE_SELF)
            self.worker_rss.set(current_rss_bytes())
            self.worker_cpu.set(usage.ru_utime + usage.ru_stime)

    def render(self) -> bytes:
        """The exposition text: this process's registry, or the sum over all workers."""
        self._refresh_gauges(force=True)
        if self.reads is not None:
            self.observe_replica(*self.reads.state())
        directory = multiprocess_dir()
        if directory is None:
            return generate_latest(self.registry)
        registry = CollectorRegistry()
        multiprocess.MultiProcessCollector(registry, path=directory)  # type: ignore[no-untyped-call]
        return generate_latest(registry)
