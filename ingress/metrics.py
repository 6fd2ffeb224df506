"""Prometheus metrics of one gateway process, on a registry this process owns.

Labels are bounded (route, model group, deployment, status class) — never key, user or team ids:
per-tenant spend belongs to the ledger. Label children are cached so the hot path pays one dict
lookup and an increment. The outbox is read at scrape time by a collector, not on every request.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Protocol

import falcon
import falcon.asgi
from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily
from prometheus_client.registry import Collector

__all__ = ["GatewayMetrics", "MetricsResource", "OutboxStats"]

_LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120)


class OutboxStats(Protocol):
    @property
    def pending(self) -> int: ...
    @property
    def published_total(self) -> int: ...
    @property
    def spilled_total(self) -> int: ...
    @property
    def spill_bytes(self) -> int: ...
    @property
    def blocked_total(self) -> int: ...


class _OutboxCollector(Collector):
    def __init__(self, outbox: OutboxStats) -> None:
        self._outbox = outbox

    def collect(self) -> Iterator[GaugeMetricFamily | CounterMetricFamily]:
        outbox = self._outbox
        yield GaugeMetricFamily("llmux_outbox_pending_events",
                                "Events waiting in memory for the bus", value=outbox.pending)
        yield GaugeMetricFamily("llmux_outbox_spill_bytes", "Bytes waiting in the spill file",
                                value=outbox.spill_bytes)
        yield CounterMetricFamily("llmux_outbox_published_events", "Events handed to the bus",
                                  value=outbox.published_total)
        yield CounterMetricFamily("llmux_outbox_spilled_events", "Events written to the spill file",
                                  value=outbox.spilled_total)
        yield CounterMetricFamily("llmux_outbox_blocked_publishes",
                                  "Publishes that waited because memory and spill were full",
                                  value=outbox.blocked_total)


class GatewayMetrics:
    """The counters and histograms the hot path updates."""

    def __init__(self, outbox: OutboxStats) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        self._requests = Counter("llmux_requests", "Finished requests",
                                 ["endpoint", "model", "status"], registry=self.registry)
        self._latency = Histogram("llmux_request_duration_seconds", "Request latency",
                                  ["endpoint", "model"], buckets=_LATENCY_BUCKETS,
                                  registry=self.registry)
        self._tokens = Counter("llmux_tokens", "Tokens used", ["model", "kind"],
                               registry=self.registry)
        self._cost = Counter("llmux_cost_micros", "Cost in micro-dollars", ["model"],
                             registry=self.registry)
        self.registry.register(_OutboxCollector(outbox))

    def observe_request(self, endpoint: str, model: str, status: int, latency_s: float) -> None:
        self._requests.labels(endpoint, model, str(status)).inc()
        self._latency.labels(endpoint, model).observe(latency_s)

    def observe_usage(self, model: str, prompt_tokens: int, completion_tokens: int,
                      cost_micros: int) -> None:
        self._tokens.labels(model, "prompt").inc(prompt_tokens)
        self._tokens.labels(model, "completion").inc(completion_tokens)
        self._cost.labels(model).inc(cost_micros)


class MetricsResource:
    def __init__(self, metrics: GatewayMetrics) -> None:
        self._metrics = metrics

    async def on_get(self, req: falcon.asgi.Request, resp: falcon.asgi.Response) -> None:
        resp.content_type = "text/plain; version=0.0.4; charset=utf-8"
        resp.data = generate_latest(self._metrics.registry)
