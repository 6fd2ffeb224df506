"""Prometheus metrics of one gateway process, on a registry this process owns.

Labels are bounded (route, model group, deployment, status class) — never key, user or team ids:
per-tenant spend belongs to the ledger. Label children are cached so the hot path pays one dict
lookup and an increment. The outbox and the admission's shared store are read at scrape time by
collectors, not on every request.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Protocol

import falcon
import falcon.asgi
from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily
from prometheus_client.registry import Collector

from ingress.admission import Admission, RedisAdmission

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
    @property
    def bus_backlog(self) -> int | None: ...


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
                                  "Publishes and responses that waited: memory (and spill) "
                                  "full, or the ledger too far behind", value=outbox.blocked_total)
        backlog = outbox.bus_backlog
        if backlog is not None:
            yield GaugeMetricFamily("llmux_bus_backlog_events",
                                    "Events on the local bus the ledger has not recorded yet",
                                    value=backlog)


class _AdmissionCollector(Collector):
    """Whether the shared limit store answers, and what the failure policy does meanwhile."""

    def __init__(self, admission: Admission) -> None:
        self._admission = admission

    def collect(self) -> Iterator[GaugeMetricFamily | CounterMetricFamily]:
        admission = self._admission
        shared = admission if isinstance(admission, RedisAdmission) else None
        policy = shared.failure_policy.value if shared else "none"
        degraded = GaugeMetricFamily(
            "llmux_admission_degraded",
            "1 while the shared limit store (Redis) is unreachable and the failure policy applies",
            labels=["failure_policy"])
        degraded.add_metric([policy], 1 if admission.is_degraded else 0)
        yield degraded
        yield CounterMetricFamily("llmux_admission_store_failures",
                                  "Calls to the shared limit store that failed",
                                  value=shared.failure_count if shared else 0)
        yield GaugeMetricFamily("llmux_admission_pending_settles",
                                "Settlements waiting for the shared limit store to come back",
                                value=shared.pending_settles if shared else 0)
        yield CounterMetricFamily("llmux_admission_dropped_settles",
                                  "Settlements lost because the store stayed down too long",
                                  value=shared.dropped_settles if shared else 0)


class GatewayMetrics:
    """The counters and histograms the hot path updates."""

    def __init__(self, outbox: OutboxStats, admission: Admission | None = None) -> None:
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
        self._refusals = Counter("llmux_admission_refusals", "Requests the admission refused",
                                 ["limit"], registry=self.registry)
        self._soft_crossings = Counter("llmux_budget_soft_crossings",
                                       "Soft budgets crossed (one alert event each)",
                                       ["scope_kind"], registry=self.registry)
        # PERF: ``labels(...)`` costs ~1.3 µs per call (stack.md §8), five calls per request; the
        # children are cached per label tuple here, which is as bounded as Prometheus' own
        # children (it never forgets a label set either).
        self._request_children: dict[tuple[str, str, int], tuple[Counter, Histogram]] = {}
        self._usage_children: dict[str, tuple[Counter, Counter, Counter]] = {}
        self.registry.register(_OutboxCollector(outbox))
        if admission is not None:
            self.registry.register(_AdmissionCollector(admission))

    def observe_request(self, endpoint: str, model: str, status: int, latency_s: float) -> None:
        children = self._request_children.get((endpoint, model, status))
        if children is None:
            children = self._request_children[(endpoint, model, status)] = (
                self._requests.labels(endpoint, model, str(status)),
                self._latency.labels(endpoint, model),
            )
        children[0].inc()
        children[1].observe(latency_s)

    def observe_usage(self, model: str, prompt_tokens: int, completion_tokens: int,
                      cost_micros: int) -> None:
        children = self._usage_children.get(model)
        if children is None:
            children = self._usage_children[model] = (
                self._tokens.labels(model, "prompt"),
                self._tokens.labels(model, "completion"),
                self._cost.labels(model),
            )
        children[0].inc(prompt_tokens)
        children[1].inc(completion_tokens)
        children[2].inc(cost_micros)

    def observe_admission_refusal(self, limit: str) -> None:
        """``limit``: ``budget``, ``rpm``, ``tpm``, ``max_parallel`` or ``unavailable``."""
        self._refusals.labels(limit).inc()

    def observe_soft_budget_crossing(self, scope_kind: str) -> None:
        """``scope_kind``: ``key``, ``user``, ``team``, ``org``, ``orgmember`` or ``enduser``."""
        self._soft_crossings.labels(scope_kind).inc()


class MetricsResource:
    def __init__(self, metrics: GatewayMetrics) -> None:
        self._metrics = metrics

    async def on_get(self, req: falcon.asgi.Request, resp: falcon.asgi.Response) -> None:
        resp.content_type = "text/plain; version=0.0.4; charset=utf-8"
        resp.data = generate_latest(self._metrics.registry)
