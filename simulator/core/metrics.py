"""GET /_sim/metrics: the simulator's own health in Prometheus' text format.

Counted as things happen, in plain dictionaries (a few hundred nanoseconds a request): API requests by provider,
route template, method and status with their latency, webhook attempts by outcome. Read when scraped: the event
loop's lag, the backlog of due jobs, the outbox's pending deliveries, the store's size. prometheus_client renders
the exposition at scrape time (imported then: serving never pays for it). Route templates, not paths, keep the label
sets bounded. One Metrics per Simulation, so two simulators in one process never mix their counts.
"""
from __future__ import annotations

import asyncio
import bisect
import contextlib
from typing import TYPE_CHECKING

from simulator.core.events import WebhookAttempted

if TYPE_CHECKING:
    from collections.abc import Iterator

    from prometheus_client.metrics_core import Metric

    from simulator.core.simulation import Simulation

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
LAG_SAMPLE_S = 0.25  # how often the event loop's lag is sampled
# Latency buckets from 1 ms to 10 s: a send takes around a millisecond, a slow Business Chat upload seconds.
BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)
MAX_LABEL_SETS = 10_000  # a bound on distinct (provider, route, method, status), whatever clients send


class _Requests:
    """One label set's count, latency sum and per-bucket counts (not cumulative; summed when rendered)."""

    __slots__ = ("buckets", "count", "total_s")

    def __init__(self) -> None:
        self.count = 0
        self.total_s = 0.0
        self.buckets = [0] * (len(BUCKETS) + 1)


class Metrics:
    def __init__(self) -> None:
        self._requests: dict[tuple[str, str | None, str, int | None], _Requests] = {}
        self._webhooks: dict[tuple[str, str], int] = {}
        self._gauges: dict[str, tuple[str, float]] = {}
        self._lag = 0.0
        self._lag_max = 0.0
        self._lag_task: asyncio.Task[None] | None = None
        self._retention: tuple[int, list[tuple[str, int]], list[tuple[str, int]]] = (0, [], [])

    def request(self, provider: str, route: str | None, method: str, status: int | None, seconds: float) -> None:
        key = (provider, route, method, status)
        counts = self._requests.get(key)
        if counts is None:
            if len(self._requests) >= MAX_LABEL_SETS:
                key = (provider, "other", method, status)
                counts = self._requests.get(key)
            if counts is None:
                counts = self._requests[key] = _Requests()
        counts.count += 1
        counts.total_s += seconds
        counts.buckets[bisect.bisect_left(BUCKETS, seconds)] += 1

    def webhook_attempted(self, attempt: WebhookAttempted) -> None:
        if attempt.ok:
            outcome = "delivered"
        elif attempt.status_code is not None:
            outcome = f"http_{attempt.status_code // 100}xx"
        else:
            outcome = "timeout" if attempt.error == "timeout" else "error"
        key = (attempt.provider, outcome)
        self._webhooks[key] = self._webhooks.get(key, 0) + 1

    def start(self) -> None:
        """Begin sampling the event loop's lag (on the running loop)."""
        if self._lag_task is None:
            self._lag_task = asyncio.get_running_loop().create_task(self._sample_lag())

    async def stop(self) -> None:
        if self._lag_task is not None:
            self._lag_task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._lag_task
            self._lag_task = None

    async def _sample_lag(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            expected = loop.time() + LAG_SAMPLE_S
            await asyncio.sleep(LAG_SAMPLE_S)
            self._lag = max(0.0, loop.time() - expected)
            self._lag_max = max(self._lag_max, self._lag)

    async def render(self, sim: Simulation) -> bytes:
        """The text exposition, with the gauges read from the store now."""
        due = await sim.store.fetch_one("SELECT COUNT(*) FROM jobs WHERE due_at <= ?", (sim.clock.now_ms(),))
        pending = await sim.store.fetch_one("SELECT COUNT(*) FROM outbox WHERE status = 'pending'")
        self._gauges = {
            "provider_sim_event_loop_lag_seconds": ("How late the event loop woke a timer, the latest sample.",
                                                    self._lag),
            "provider_sim_event_loop_lag_max_seconds": ("The longest the event loop was late since the last scrape.",
                                                        self._lag_max),
            "provider_sim_jobs_pending": ("Scheduled jobs not run yet.", await sim.scheduler.pending()),
            "provider_sim_jobs_due": ("Jobs due by the simulator's clock and not run yet.",
                                      int(due[0]) if due is not None else 0),
            "provider_sim_outbox_pending": ("Webhook deliveries not delivered or given up yet.",
                                            int(pending[0]) if pending is not None else 0),
            "provider_sim_store_bytes": ("Size of the simulator's database.", await sim.store.size_bytes()),
        }
        self._lag_max = 0.0
        retention = sim.retention
        # Rows per kind: an estimate past a few thousand (two index lookups), never a count of a large table.
        rows = [(name, await sim.store.estimate_rows(kind.table)) for name, kind in retention.kinds.items()]
        self._retention = (retention.sweeps, list(retention.removed_counts()), rows)
        from prometheus_client import CollectorRegistry, generate_latest

        registry = CollectorRegistry(auto_describe=False)
        registry.register(self)
        return generate_latest(registry)

    def collect(self) -> Iterator[Metric]:
        """prometheus_client's collector interface: the families as they stand."""
        from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, HistogramMetricFamily

        requests = CounterMetricFamily("provider_sim_requests", "API and control requests answered.",
                                       labels=["provider", "route", "method", "status"])
        latency = HistogramMetricFamily("provider_sim_request_duration_seconds", "Time to answer a request.",
                                        labels=["provider", "route"])
        by_route: dict[tuple[str, str], _Requests] = {}
        for (provider, template, method, status), counts in self._requests.items():
            route = template or "unmatched"
            requests.add_metric([provider, route, method, "none" if status is None else str(status)], counts.count)
            merged = by_route.setdefault((provider, route), _Requests())
            merged.count += counts.count
            merged.total_s += counts.total_s
            merged.buckets = [a + b for a, b in zip(merged.buckets, counts.buckets, strict=True)]
        for (provider, route), counts in by_route.items():
            cumulative, buckets = 0, []
            for bound, n in zip((*(str(b) for b in BUCKETS), "+Inf"), counts.buckets, strict=True):
                cumulative += n
                buckets.append((bound, float(cumulative)))
            latency.add_metric([provider, route], buckets, counts.total_s)
        webhooks = CounterMetricFamily("provider_sim_webhook_attempts", "Webhook delivery attempts by outcome.",
                                       labels=["provider", "outcome"])
        for (provider, outcome), n in self._webhooks.items():
            webhooks.add_metric([provider, outcome], n)
        sweeps, removed_counts, rows = self._retention
        removed = CounterMetricFamily("provider_sim_retention_removed_rows", "Rows retention removed, by kind.",
                                      labels=["kind"])
        for kind, n in removed_counts:
            removed.add_metric([kind], n)
        kept = GaugeMetricFamily("provider_sim_retained_rows", "Rows of each retention kind's table (estimated past"
                                 " ten thousand).", labels=["kind"])
        for kind, n in rows:
            kept.add_metric([kind], n)
        yield from (requests, latency, webhooks, removed, kept,
                    CounterMetricFamily("provider_sim_retention_sweeps", "Retention sweeps run to their end.",
                                        value=sweeps))
        for name, (help_text, value) in self._gauges.items():
            yield GaugeMetricFamily(name, help_text, value=value)
