"""The gateway's background machinery for one mode, started and stopped as one unit.

Standalone: an in-process bus in a SQLite file, the ledger writing to a SQLite event store, and the
projector keeping SQLite read models, all in this process. Distributed: NATS JetStream and
Postgres; the ledger and projector run as their own processes (``llmux ledger``,
``llmux projector``), so this process only publishes and reads. Live routing stats are in memory, or
in Redis (shared by every instance) in distributed mode or with ``routing.distributed``.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Mapping
from datetime import datetime
from pathlib import Path
from typing import Any, Protocol

from ingress import processes
from ingress.admission import Admission, MemoryAdmission, RedisAdmission
from ingress.admission_gate import admission_readiness
from ingress.processes import Job
from ingress.resources.health import ReadinessCheck
from ingress.startup import StartupError
from ledger import Bus, BusUnavailable, LocalBus, NatsBus, Outbox
from projections import KeyRecord, open_queries
from router_engine import StatsStore, stats_store_from_config
from schemas.config import LLMuxConfig, duration_seconds
from schemas.errors import ServiceUnavailable
from schemas.events import EntityState

__all__ = ["Queries", "Runtime", "build_runtime"]

_log = logging.getLogger("llmux.runtime")


class Queries(Protocol):
    """The read side this process serves from (``projections.open_queries``)."""

    async def spend_by_key(self, key_id: str | None = None) -> list[dict[str, Any]]: ...
    async def keys(self) -> list[KeyRecord]: ...
    async def control_entities(self) -> list[EntityState]: ...
    async def scope_spend(self, filters: Mapping[str, str], since: datetime) -> int: ...
    async def gateway_start_applied(self, event_id: str) -> bool: ...
    async def aclose(self) -> None: ...


class Runtime:
    """Owns the bus, the outbox, the query side, live routing stats, the admission counters and
    the background jobs."""

    def __init__(self, *, bus: Bus, outbox: Outbox, queries: Queries,
                 subject_prefix: str, jobs: list[Job], stats: StatsStore,
                 admission: Admission) -> None:
        self.bus = bus
        self.stats = stats
        self.admission = admission
        self.outbox = outbox
        self.queries = queries
        self.subject_prefix = subject_prefix
        self._jobs = jobs
        self._stop = asyncio.Event()
        self._tasks: list[asyncio.Future[None]] = []

    async def start(self) -> None:
        try:
            await self.stats.start()
            await self.admission.start()
        except ServiceUnavailable as exc:
            raise StartupError(exc.message) from None
        try:
            await self.bus.start()
        except BusUnavailable as exc:
            raise StartupError(str(exc)) from None
        await self.outbox.start()
        self._stop = asyncio.Event()
        self._tasks = [asyncio.ensure_future(job(self._stop)) for job in self._jobs]
        for task in self._tasks:
            task.add_done_callback(_report_failure)

    async def aclose(self) -> None:
        await self.outbox.aclose()
        self._stop.set()
        for task in self._tasks:
            # NOTE: a job that failed was reported when it did; the rest must still be closed.
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await asyncio.wait_for(task, timeout=10)
        await self.queries.aclose()
        await self.bus.aclose()
        await self.stats.aclose()
        await self.admission.aclose()

    def readiness_checks(self) -> dict[str, ReadinessCheck]:
        return {"bus": self._bus_ready, "background": self._jobs_alive,
                "database": self._database_ready,
                "admission": admission_readiness(self.admission)}

    async def _bus_ready(self) -> bool:
        return not isinstance(self.bus, NatsBus) or self.bus.is_connected

    async def _jobs_alive(self) -> bool:
        return all(not task.done() for task in self._tasks)

    async def _database_ready(self) -> bool:
        await self.queries.spend_by_key("__readiness_probe__")
        return True


def _report_failure(task: asyncio.Future[None]) -> None:
    """Log a background job that stopped with an error, when it does (readiness shows it too).

    Without this its exception would surface only when the task is collected, if ever.
    """
    if not task.cancelled() and (error := task.exception()) is not None:
        _log.error("a background job stopped: %s", type(error).__name__, exc_info=error)


def build_runtime(config: LLMuxConfig) -> Runtime:
    data_dir = Path(config.deployment.data_dir)
    data_dir.mkdir(parents=True, exist_ok=True)
    prefix = config.nats.subject_prefix
    if config.is_distributed:
        bus: Bus = processes.nats_bus(config)
        queries = open_queries(postgres_url=processes.database_url(config))
        jobs: list[Job] = []
        spill = data_dir / f"outbox-{config.server.port}.spill"
    else:
        # NOTE: admin events are never pruned, so every start replays them all (AdminFeed).
        bus = LocalBus(str(data_dir / "bus.db"), retain=(f"{prefix}.admin.>",),
                       max_backlog=config.bus.max_backlog)
        queries = open_queries(sqlite_path=str(data_dir / "projections.db"))
        jobs = processes.standalone_jobs(config, bus)
        spill = data_dir / "outbox.spill"
    jobs += processes.heap_trim_jobs(config)
    outbox = Outbox(
        bus, str(spill), subject_prefix=prefix, max_events=config.bus.outbox_max_events,
        spill_max_bytes=config.bus.spill_max_bytes, batch_size=config.bus.batch_size,
        flush_interval_s=duration_seconds(config.bus.flush_interval),
    )
    return Runtime(bus=bus, outbox=outbox, queries=queries, subject_prefix=prefix, jobs=jobs,
                   stats=stats_store_from_config(config), admission=_admission(config))


def _admission(config: LLMuxConfig) -> Admission:
    """Counters in Redis, shared by every instance (distributed), or in this process."""
    if not config.is_distributed:
        return MemoryAdmission()
    return RedisAdmission(config.redis.url, f"{config.redis.key_prefix}admission",
                          failure_policy=config.admission.failure_policy)
