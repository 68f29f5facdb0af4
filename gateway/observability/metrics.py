"""Prometheus metrics of one gateway, on its own ``CollectorRegistry``.

Each ``create_app`` gets a ``GatewayMetrics`` (several apps in one process, as in the tests, never
share or clash). Events are counted where they happen (checks, extractions, HTTP requests); state
(watchlist, central link, queue, today's decisions) is read at scrape time by ``StateCollector``,
so a scrape always shows the present and costs nothing between scrapes.

What an operator reads (see deploy/grafana-dashboard.json):

- healthy?   ``fieldcheck_ready``, ``fieldcheck_http_requests_total{status=~"5.."}``
- how fast?  ``fieldcheck_check_duration_seconds`` by modality,
  ``fieldcheck_extraction_duration_seconds``
- hits today ``fieldcheck_checks_today{decision="hit"}`` (from the database, survives restarts),
  ``fieldcheck_check_decisions_total`` (this process)
- draining?  ``fieldcheck_upstream_queue_depth``, ``..._oldest_item_age_seconds``,
  ``..._delivery_rate_per_second``, ``fieldcheck_upstream_feed_lag_seconds``
"""

from __future__ import annotations

import importlib.metadata
import logging
import platform
import time
from collections.abc import Callable, Iterable, Iterator, MutableMapping
from datetime import UTC, datetime
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Histogram, Info, disable_created_metrics
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.exposition import CONTENT_TYPE_LATEST, generate_latest
from prometheus_client.registry import Collector

from matchers.calibration import Decision

log = logging.getLogger(__name__)
# The *_created series double every counter and histogram for a value no dashboard uses.
disable_created_metrics()

__all__ = ["CONTENT_TYPE_LATEST", "GatewayMetrics", "check_modality"]

CHECK_BUCKETS = (0.05, 0.1, 0.2, 0.3, 0.5, 0.75, 1.0, 1.5, 2.0, 3.0, 5.0, 10.0, 30.0)
EXTRACT_BUCKETS = (0.01, 0.025, 0.05, 0.1, 0.2, 0.3, 0.5, 0.75, 1.0, 2.0, 5.0)
HTTP_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 60.0)
DECISIONS = tuple(Decision)
# Extraction functions by module: the label of the extraction histogram.


def build_version() -> str:
    try:
        return importlib.metadata.version("fieldcheck")
    except importlib.metadata.PackageNotFoundError:
        return "unknown"


def check_modality(capture: Any) -> str:
    """``face``, ``finger``, ``template`` or their ``+``-joined combination (few label values)."""
    parts = [name for name, present in (
        ("face", getattr(capture, "faces", None)), ("finger", getattr(capture, "fingers", None)),
        ("template", getattr(capture, "templates", None)),
    ) if present]
    return "+".join(parts) or "none"


class GatewayMetrics:
    """The metrics of one gateway application; ``runtime`` is read lazily at scrape time."""

    def __init__(self, runtime: Callable[[], Any | None]) -> None:
        self.registry = CollectorRegistry()
        r = self.registry
        self.check_seconds = Histogram(
            "fieldcheck_check_duration_seconds",
            "Time to answer a field check (adapter parse to stored answer), by modality",
            ["modality"], buckets=CHECK_BUCKETS, registry=r,
        )
        self.decisions = Counter(
            "fieldcheck_check_decisions",
            "Checks answered by this process, by local decision (hit, possible, no_hit, recapture)",
            ["decision"], registry=r,
        )
        for decision in DECISIONS:  # present at 0 from the start: rate() needs a first sample
            self.decisions.labels(decision)
        self.extraction_seconds = Histogram(
            "fieldcheck_extraction_duration_seconds",
            "Feature extraction time of one capture, by modality", ["modality"],
            buckets=EXTRACT_BUCKETS, registry=r,
        )
        self.http_requests = Counter(
            "fieldcheck_http_requests", "HTTP requests answered, by method, route and status",
            ["method", "route", "status"], registry=r,
        )
        self.http_seconds = Histogram(
            "fieldcheck_http_request_duration_seconds", "HTTP request duration, by route",
            ["route"], buckets=HTTP_BUCKETS, registry=r,
        )
        Info("fieldcheck_build", "Version of this gateway", registry=r).info({
            "version": build_version(), "python": platform.python_version(),
        })
        r.register(StateCollector(runtime))

    def observe_check(self, modality: str, decision: str, seconds: float) -> None:
        self.check_seconds.labels(modality).observe(seconds)
        self.decisions.labels(decision).inc()

    def observe_request(self, scope: MutableMapping[str, Any], status: int,
                        seconds: float) -> None:
        route = scope.get("route")
        # The route template, not the path: ids in paths would make a label per check.
        name = getattr(route, "path", None) or "unmatched"
        self.http_requests.labels(scope.get("method", ""), name, str(status)).inc()
        self.http_seconds.labels(name).observe(seconds)

    def render(self) -> bytes:
        return generate_latest(self.registry)


class StateCollector(Collector):
    """Gauges read from the running gateway at each scrape."""

    def __init__(self, runtime: Callable[[], Any | None]) -> None:
        self._runtime = runtime

    def describe(self) -> Iterable[Metric]:
        return []  # families depend on what is running (the central link may be off)

    def collect(self) -> Iterator[Metric]:
        runtime = self._runtime()
        if runtime is None:
            yield _gauge("fieldcheck_ready", "1 when the database answers and the cache is loaded",
                         0.0)
            return
        yield from self._watchlist(runtime)
        yield from self._today(runtime)
        if runtime.upstream is not None:
            try:
                yield from self._upstream(runtime.upstream)
            except Exception:  # noqa: BLE001 - a failing part must not hide the others
                log.exception("central link metrics failed")

    def _watchlist(self, runtime: Any) -> Iterator[Metric]:
        cache = runtime.cache
        database_ok = _database_ok(runtime.engine)
        yield _gauge("fieldcheck_ready", "1 when the database answers and the cache is loaded",
                     1.0 if database_ok and cache.loaded else 0.0)
        yield _gauge("fieldcheck_database_up", "1 when the database answered SELECT 1",
                     1.0 if database_ok else 0.0)
        yield _gauge("fieldcheck_watchlist_version", "Watchlist change-log version in the cache",
                     float(cache.version))
        size = GaugeMetricFamily("fieldcheck_watchlist_cache_entries",
                                 "Entries in the in-memory watchlist cache, by kind",
                                 labels=["kind"])
        for kind, count in cache.counts().items():
            size.add_metric([kind], float(count))
        yield size
        if hasattr(cache, "needs_reenrolment"):
            stale = GaugeMetricFamily(
                "fieldcheck_watchlist_needs_reenrolment",
                "Templates of an older model, not searched until re-enrolled, by kind",
                labels=["kind"])
            for kind, count in cache.needs_reenrolment().items():
                stale.add_metric([kind], float(count))
            yield stale

    def _today(self, runtime: Any) -> Iterator[Metric]:
        from sqlalchemy import func
        from sqlmodel import Session, select

        from gateway.checks.models import Check

        midnight = datetime.now(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
        family = GaugeMetricFamily(
            "fieldcheck_checks_today",
            "Checks stored since 00:00 UTC in this gateway's database, by decision "
            "(after central's result)", labels=["decision"],
        )
        counts = dict.fromkeys(DECISIONS, 0)
        try:
            with Session(runtime.engine) as session:
                rows = session.exec(
                    select(Check.decision, func.count()).where(
                        Check.created_at >= midnight
                    ).group_by(Check.decision)
                ).all()
            counts.update({Decision(decision): int(n) for decision, n in rows})
        except Exception:  # noqa: BLE001 - a scrape reports, never fails
            log.warning("could not count today's checks", exc_info=True)
            return
        for decision, n in counts.items():
            family.add_metric([decision], float(n))
        yield family

    def _upstream(self, upstream: Any) -> Iterator[Metric]:
        now = time.time()
        q = upstream.storage.stats(now=now)
        stats = upstream.worker.stats if upstream.worker else None
        state = upstream.link_state()
        link = GaugeMetricFamily("fieldcheck_upstream_link_state",
                                 "Central link state: 1 for the current one", labels=["state"])
        for name in ("up", "degraded", "down", "unknown", "starting"):
            link.add_metric([name], 1.0 if state == name else 0.0)
        yield link
        yield _gauge("fieldcheck_upstream_link_up", "1 when the central link is up",
                     1.0 if state == "up" else 0.0)
        circuit = {"closed": 0.0, "half_open": 0.5, "open": 1.0}.get(upstream.breaker.state, 1.0)
        yield _gauge("fieldcheck_upstream_circuit_open",
                     "Circuit breaker: 0 closed, 0.5 half open, 1 open", circuit)
        yield _counter("fieldcheck_upstream_circuit_opened", "Times the circuit opened",
                       upstream.breaker.opened_count)
        yield _gauge("fieldcheck_upstream_queue_depth", "Queries waiting for central", q.depth)
        yield _gauge("fieldcheck_upstream_in_flight", "Queries being delivered now", q.in_flight)
        yield _gauge("fieldcheck_upstream_oldest_item_age_seconds",
                     "Age of the oldest query waiting for central", q.oldest_age_s)
        yield _gauge("fieldcheck_upstream_dead_letters", "Queries central never took", q.dead)
        yield _counter("fieldcheck_upstream_delivered", "Queries central acknowledged",
                       stats.delivered if stats else 0)
        yield _counter("fieldcheck_upstream_failures", "Failed delivery attempts",
                       stats.failed if stats else 0)
        yield _gauge("fieldcheck_upstream_delivery_rate_per_second",
                     "Recent delivery rate to central", stats.rate() if stats else 0.0)
        synced = upstream.feed_synced_at
        # NaN until the first sync: "never" must not read as "just now" on a dashboard.
        yield _gauge("fieldcheck_upstream_feed_lag_seconds",
                     "Seconds since the central change feed (stolen documents, notices) last "
                     "synced", now - synced if synced else float("nan"))
        yield _gauge("fieldcheck_upstream_feed_error", "1 when the last feed sync failed",
                     1.0 if upstream.feed_error else 0.0)


def _gauge(name: str, documentation: str, value: float) -> GaugeMetricFamily:
    return GaugeMetricFamily(name, documentation, value=float(value))


def _counter(name: str, documentation: str, value: float) -> CounterMetricFamily:
    return CounterMetricFamily(name, documentation, value=float(value))


def _database_ok(engine: Any) -> bool:
    from sqlalchemy import text

    try:
        with engine.connect() as connection:
            connection.execute(text("SELECT 1"))
        return True
    except Exception:  # noqa: BLE001 - reported as a gauge
        return False
