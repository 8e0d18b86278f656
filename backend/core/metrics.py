"""Prometheus metrics, per app instance (no module-level registry).

Under gunicorn every worker writes its values to files in PROMETHEUS_MULTIPROC_DIR
(prometheus-client's multiprocess mode; gunicorn.conf.py sets the folder, wipes it when the
master starts and marks dead workers), and one scrape of any worker reports the sum over all
workers. Without that variable (uvicorn, tests) values live in this process.
"""

from __future__ import annotations

import os
import resource
import time

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
_POOL_REFRESH_SECONDS = 1.0


def current_rss_bytes() -> int:
    """Resident memory now (Linux /proc), else the peak."""
    try:
        with open("/proc/self/statm", encoding="ascii") as statm:
            return int(statm.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
    except OSError:
        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024


def multiprocess_dir() -> str | None:
    return os.environ.get("PROMETHEUS_MULTIPROC_DIR") or None


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
        self._request_series: dict[tuple[str, str, int], tuple[Counter, Histogram]] = {}
        self._query_series: dict[str, Histogram] = {}
        self._process_refreshed = 0.0
        self._pool_refreshed = 0.0
        db.observers.append(self.observe_query)
        self.reads = reads
        if reads is not None:
            reads.watchers.append(self.observe_replica)

    def request_started(self) -> None:
        self.in_flight.inc()

    def request_finished(self, route: str, scope: Scope, status: int, seconds: float) -> None:
        key = (route, scope["method"], status)
        series = self._request_series.get(key)
        if series is None:
            labels = (route, scope["method"], str(status))
            series = (self.requests.labels(*labels), self.latency.labels(*labels))
            self._request_series[key] = series
        series[0].inc()
        series[1].observe(seconds)
        self.in_flight.dec()
        self._refresh_gauges()

    def observe_query(self, name: str, seconds: float) -> None:
        series = self._query_series.get(name)
        if series is None:
            series = self._query_series[name] = self.query_latency.labels(name)
        series.observe(seconds)

    def observe_replica(self, state: ReplicaState, lag: float | None) -> None:
        """After each lag check of this worker (so an idle worker's value stays current, to
        within one check interval), and when scraped (so the scraping worker's is exact)."""
        self.replica_fresh.set(1 if state == "fresh" else 0)
        if lag is not None:
            self.replica_lag.set(lag)

    def _refresh_gauges(self, force: bool = False) -> None:
        """Gauges are sampled at most once a second per worker (each write is a file write
        in multiprocess mode), and always when scraped."""
        now = time.monotonic()
        if force or now - self._pool_refreshed > _POOL_REFRESH_SECONDS:
            self._pool_refreshed = now
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
