"""``llmux ledger``'s own port (``ledger.http_port``): liveness, readiness and Prometheus metrics.

The ledger process serves no requests, but an orchestrator still has to know whether it is alive
and keeping up, and an operator how far behind the gateways it is: events published to NATS but
not yet in Postgres are spend that budgets and reports do not show yet. The lag is JetStream's own
count for the ledger's durable consumer, so it also counts what arrived while the ledger was down.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import falcon
import falcon.asgi
from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily
from prometheus_client.registry import Collector

from ingress.resources.health import CheckStatus, Liveness, Readiness
from ledger import BusUnavailable, LedgerApp, LedgerConsumer, NatsBus

__all__ = ["ledger_status_app"]


@dataclass(slots=True)
class _Readings:
    """What one scrape read from the bus and the store (the collector itself cannot await)."""

    lag: int | None = None
    position: int | None = None


class _LedgerCollector(Collector):
    def __init__(self, consumer: LedgerConsumer, readings: _Readings) -> None:
        self._consumer = consumer
        self._readings = readings

    def collect(self) -> Iterator[GaugeMetricFamily | CounterMetricFamily]:
        consumer, readings = self._consumer, self._readings
        yield CounterMetricFamily("llmux_ledger_recorded_events",
                                  "Events this process stored in the ledger",
                                  value=consumer.recorded)
        yield CounterMetricFamily("llmux_ledger_duplicate_events",
                                  "Events delivered again that the ledger already held",
                                  value=consumer.duplicates)
        yield CounterMetricFamily("llmux_ledger_rejected_messages",
                                  "Bus messages that were not event envelopes (logged, acked)",
                                  value=consumer.rejected)
        yield GaugeMetricFamily("llmux_ledger_waiting",
                                "1 while the bus or the store is unavailable and batches wait",
                                value=0 if consumer.waiting_for is None else 1)
        if readings.lag is not None:
            yield GaugeMetricFamily("llmux_ledger_lag_events",
                                    "Events on the bus the ledger has yet to record",
                                    value=readings.lag)
        if readings.position is not None:
            yield GaugeMetricFamily("llmux_ledger_position",
                                    "Position of the newest event in the ledger",
                                    value=readings.position)


class _LedgerMetrics:
    def __init__(self, consumer: LedgerConsumer, app: LedgerApp) -> None:
        self._consumer = consumer
        self._app = app
        self._readings = _Readings()
        self._registry = CollectorRegistry(auto_describe=False)
        self._registry.register(_LedgerCollector(consumer, self._readings))

    async def on_get(self, req: falcon.asgi.Request, resp: falcon.asgi.Response) -> None:
        # NOTE: a bus or store that does not answer leaves its gauge out of this scrape; the
        # counters and ``llmux_ledger_waiting`` still say what is going on.
        try:
            self._readings.lag = await self._consumer.lag()
        except BusUnavailable:
            self._readings.lag = None
        try:
            self._readings.position = await asyncio.to_thread(self._app.max_position)
        except Exception:  # NOTE: any store failure: no position in this scrape
            self._readings.position = None
        resp.content_type = "text/plain; version=0.0.4; charset=utf-8"
        resp.data = generate_latest(self._registry)


def ledger_status_app(consumer: LedgerConsumer, bus: NatsBus, app: LedgerApp,
                      metrics_path: str = "/metrics") -> falcon.asgi.App[Any, Any]:
    """The app ``llmux ledger`` serves on ``ledger.http_port``."""

    async def bus_connected() -> bool:
        return bus.is_connected

    async def recording() -> bool | CheckStatus:
        waiting_for = consumer.waiting_for
        return True if waiting_for is None else CheckStatus(False, f"waiting: {waiting_for}")

    async def database() -> bool:
        await asyncio.to_thread(app.max_position)
        return True

    status: falcon.asgi.App[Any, Any] = falcon.asgi.App(cors_enable=False)
    liveness = Liveness()
    for path in ("/health/live", "/health"):
        status.add_route(path, liveness)
    status.add_route("/health/ready", Readiness(
        {"bus": bus_connected, "ledger": recording, "database": database}))
    status.add_route(metrics_path, _LedgerMetrics(consumer, app))
    return status
