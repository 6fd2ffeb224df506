"""The own port of ``llmux ledger`` and ``llmux projector``: liveness, readiness and metrics.

Neither process serves requests, but an orchestrator still has to know whether each is alive and
keeping up, and an operator how far behind it is: events published to NATS but not yet in the
ledger, or in the ledger but not yet in the read models, are spend that budgets and reports do
not show yet. The ledger's lag is JetStream's own count for its durable consumer, so it also counts
what arrived while the ledger was down; a projection's is the ledger's newest position minus the
last one it applied.

Readiness names the check that fails but not why (that is in the process's log): the port may be
reachable by more than the operators.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Iterator, Mapping, Sequence
from typing import Any, Protocol

import falcon
import falcon.asgi
from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily
from prometheus_client.registry import Collector

from ingress.resources.health import CheckStatus, Liveness, Readiness, ReadinessCheck
from ledger import BusUnavailable, LedgerApp, LedgerConsumer, NatsBus
from projections import ProjectionRunner

__all__ = ["ledger_status_app", "projector_status_app"]

Metric = GaugeMetricFamily | CounterMetricFamily

_WAITING = CheckStatus(False, "waiting")


class _Readings:
    """What the last scrape read from the bus and the store: collectors cannot await."""

    __slots__ = ("ledger_lag", "ledger_position")

    def __init__(self) -> None:
        self.ledger_lag: int | None = None
        self.ledger_position: int | None = None


class _Collector(Collector):
    def __init__(self, collect: Callable[[], Iterator[Metric]]) -> None:
        self._collect = collect

    def collect(self) -> Iterator[Metric]:
        return self._collect()


class _MetricsResource:
    """Reads what needs a round trip (``refresh``), then renders the registry."""

    def __init__(self, collect: Callable[[], Iterator[Metric]],
                 refresh: Callable[[], Awaitable[None]]) -> None:
        self._registry = CollectorRegistry(auto_describe=False)
        self._registry.register(_Collector(collect))
        self._refresh = refresh

    async def on_get(self, req: falcon.asgi.Request, resp: falcon.asgi.Response) -> None:
        await self._refresh()
        resp.content_type = "text/plain; version=0.0.4; charset=utf-8"
        resp.data = generate_latest(self._registry)


def _status_app(checks: Mapping[str, ReadinessCheck], metrics: _MetricsResource,
                metrics_path: str) -> falcon.asgi.App[Any, Any]:
    status: falcon.asgi.App[Any, Any] = falcon.asgi.App(cors_enable=False)
    liveness = Liveness()
    for path in ("/health/live", "/health"):
        status.add_route(path, liveness)
    status.add_route("/health/ready", Readiness(checks))
    status.add_route(metrics_path, metrics)
    return status


async def _ledger_position(app: LedgerApp) -> int | None:
    """The ledger's newest position, or ``None`` while its store does not answer."""
    try:
        return await asyncio.to_thread(app.max_position)
    except Exception:  # NOTE: any store failure: no position in this scrape (the log says why)
        return None


class _MayWait(Protocol):
    @property
    def waiting_for(self) -> str | None: ...


def _waiting_check(worker: _MayWait) -> ReadinessCheck:
    async def check() -> bool | CheckStatus:
        return True if worker.waiting_for is None else _WAITING
    return check


def _database_check(app: LedgerApp) -> ReadinessCheck:
    async def check() -> bool:
        return await _ledger_position(app) is not None
    return check


def ledger_status_app(consumer: LedgerConsumer, bus: NatsBus, app: LedgerApp,
                      metrics_path: str = "/metrics") -> falcon.asgi.App[Any, Any]:
    """What ``llmux ledger`` serves on ``ledger.http_port``."""
    readings = _Readings()

    async def refresh() -> None:
        try:
            readings.ledger_lag = await consumer.lag()
        except BusUnavailable:
            readings.ledger_lag = None
        readings.ledger_position = await _ledger_position(app)

    def collect() -> Iterator[Metric]:
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
        if readings.ledger_lag is not None:
            yield GaugeMetricFamily("llmux_ledger_lag_events",
                                    "Events on the bus the ledger has yet to record",
                                    value=readings.ledger_lag)
        yield from _position_gauge(readings)

    async def bus_connected() -> bool:
        return bus.is_connected

    checks = {"bus": bus_connected, "ledger": _waiting_check(consumer),
              "database": _database_check(app)}
    return _status_app(checks, _MetricsResource(collect, refresh), metrics_path)


def projector_status_app(runners: Sequence[ProjectionRunner], app: LedgerApp,
                         metrics_path: str = "/metrics") -> falcon.asgi.App[Any, Any]:
    """What ``llmux projector`` serves on ``projector.http_port``."""
    readings = _Readings()

    async def refresh() -> None:
        readings.ledger_position = await _ledger_position(app)

    def collect() -> Iterator[Metric]:
        position = GaugeMetricFamily("llmux_projection_position",
                                     "Last ledger position the projection applied",
                                     labels=["projection"])
        lag = GaugeMetricFamily("llmux_projection_lag_positions",
                                "Ledger positions not yet applied (an upper bound on events)",
                                labels=["projection"])
        waiting = GaugeMetricFamily("llmux_projection_waiting",
                                    "1 while the ledger or the view's store is unavailable",
                                    labels=["projection"])
        for runner in runners:
            name, applied = runner.projection.name, runner.applied_through
            waiting.add_metric([name], 0 if runner.waiting_for is None else 1)
            if applied is not None:
                position.add_metric([name], applied)
                if readings.ledger_position is not None:
                    lag.add_metric([name], max(0, readings.ledger_position - applied))
        yield from (position, lag, waiting)
        yield from _position_gauge(readings)

    checks: dict[str, ReadinessCheck] = {"database": _database_check(app)}
    for runner in runners:
        checks[f"projection:{runner.projection.name}"] = _waiting_check(runner)
    return _status_app(checks, _MetricsResource(collect, refresh), metrics_path)


def _position_gauge(readings: _Readings) -> Iterator[Metric]:
    if readings.ledger_position is not None:
        yield GaugeMetricFamily("llmux_ledger_position",
                                "Position of the newest event in the ledger",
                                value=readings.ledger_position)
