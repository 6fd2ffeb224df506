"""The ledger and projector as jobs: in the gateway process (standalone) or their own (distributed).

A job is ``async job(stop)``: it runs until ``stop`` is set and then closes what it opened. The same
jobs back ``llmux ledger`` and ``llmux projector`` and the standalone gateway, so both modes run
one code path. As processes of their own, the two also trim their heaps (``ingress.heap``) and
serve their probes and metrics on their own port (``ingress.worker_status``).
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

from ingress.heap import heap_trim_job
from ingress.listener import Listener
from ingress.startup import StartupError
from ingress.worker_status import ledger_status_app, projector_status_app
from ledger import Bus, BusUnavailable, LedgerApp, LedgerConsumer, NatsBus, open_ledger
from projections import ProjectionRunner, open_projection, open_projections
from schemas.config import LLMuxConfig, duration_seconds

__all__ = [
    "Job",
    "ProcessMain",
    "StartupError",
    "database_url",
    "heap_trim_jobs",
    "nats_bus",
    "rebuild_projection",
    "run_ledger",
    "run_projector",
    "standalone_jobs",
]

Job = Callable[[asyncio.Event], Awaitable[None]]
ProcessMain = Callable[[LLMuxConfig, asyncio.Event], Awaitable[None]]

LEDGER_CONSUMER = "ledger"


def database_url(config: LLMuxConfig) -> str:
    if not config.database.url:
        raise StartupError("database.url (or DB_HOST) must be set in distributed mode")
    return config.database.url


def nats_bus(config: LLMuxConfig) -> NatsBus:
    """The distributed bus as ``nats`` configures it (not started)."""
    return NatsBus(config.nats.url, stream=config.nats.stream,
                   subject_prefix=config.nats.subject_prefix,
                   ack_wait_s=duration_seconds(config.nats.ack_wait),
                   max_age_s=duration_seconds(config.nats.max_age))


def _open_ledger(config: LLMuxConfig) -> LedgerApp:
    if config.is_distributed:
        return open_ledger(postgres_url=database_url(config))
    return open_ledger(sqlite_path=str(Path(config.deployment.data_dir) / "ledger.db"))


def _projection_store(config: LLMuxConfig) -> dict[str, str]:
    if config.is_distributed:
        return {"postgres_url": database_url(config)}
    return {"sqlite_path": str(Path(config.deployment.data_dir) / "projections.db")}


def _runners(config: LLMuxConfig, app: LedgerApp) -> list[ProjectionRunner]:
    projections = open_projections(**_projection_store(config))
    # PERF: the runners share one reader, so each event is decoded once, not once per projection.
    return ProjectionRunner.sharing_reads(app, projections)


async def _open_ledger_consumer(config: LLMuxConfig, bus: Bus, app: LedgerApp,
                                on_recorded: Callable[[], None] | None = None, *,
                                yield_to_requests: bool = False) -> LedgerConsumer:
    consumer = await bus.consumer(LEDGER_CONSUMER, f"{config.nats.subject_prefix}.>")
    return LedgerConsumer(
        app, consumer, batch_size=config.ledger.batch_size,
        batch_wait_s=duration_seconds(config.ledger.batch_wait), on_recorded=on_recorded,
        yield_to_requests=yield_to_requests,
    )


def _consuming(ledger_consumer: LedgerConsumer) -> Job:
    async def run(stop: asyncio.Event) -> None:
        try:
            await ledger_consumer.run(stop)
        finally:
            await ledger_consumer.aclose()

    return run


def _ledger_job(config: LLMuxConfig, bus: Bus, app: LedgerApp,
                on_recorded: Callable[[], None] | None = None, *,
                yield_to_requests: bool = False) -> Job:
    async def run(stop: asyncio.Event) -> None:
        ledger_consumer = await _open_ledger_consumer(config, bus, app, on_recorded,
                                                      yield_to_requests=yield_to_requests)
        await _consuming(ledger_consumer)(stop)

    return run


def _projector_job(runners: list[ProjectionRunner], app: LedgerApp | None = None) -> Job:
    """Runs every projection until ``stop``; closes them, then ``app`` when this job owns it."""

    async def run(stop: asyncio.Event) -> None:
        try:
            await asyncio.gather(*(runner.run(stop) for runner in runners))
        finally:
            for runner in runners:
                await runner.aclose()
            if app is not None:
                app.close()

    return run


def standalone_jobs(config: LLMuxConfig, bus: Bus) -> list[Job]:
    """Ledger and projector inside the gateway; the ledger wakes the projector after each batch.

    The ledger's batches that keep up yield the core to the requests (``ledger.background``).
    """
    app = _open_ledger(config)
    runners = _runners(config, app)

    def wake_projections() -> None:
        for runner in runners:
            runner.wake()

    ledger = _ledger_job(config, bus, app, wake_projections, yield_to_requests=True)
    projector = _projector_job(runners)

    async def run(stop: asyncio.Event) -> None:
        # NOTE: the ledger app is closed only once both jobs are done: closing it when the
        # projector stops could pull it from under a batch the ledger is still recording.
        try:
            await _run_together([ledger, projector], stop)
        finally:
            app.close()

    return [run]


def heap_trim_jobs(config: LLMuxConfig) -> list[Job]:
    """The job trimming this process's heap every ``server.heap_trim_interval`` (``ingress.heap``),
    or none where it cannot or should not."""
    trimmer = heap_trim_job(duration_seconds(config.server.heap_trim_interval))
    return [] if trimmer is None else [trimmer]


async def _run_together(jobs: list[Job], stop: asyncio.Event) -> None:
    """Run ``jobs`` until ``stop``; if one fails, the others are stopped and its error raised."""
    tasks = [asyncio.ensure_future(job(stop)) for job in jobs]
    try:
        await asyncio.gather(*tasks)
    finally:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)


async def run_ledger(config: LLMuxConfig, stop: asyncio.Event) -> None:
    """``llmux ledger``: NATS → event store, until ``stop``."""
    bus = nats_bus(config)
    try:
        await bus.start()
    except BusUnavailable as exc:
        raise StartupError(str(exc)) from None
    app = _open_ledger(config)
    try:
        ledger_consumer = await _open_ledger_consumer(config, bus, app)
        status = ledger_status_app(ledger_consumer, bus, app, config.metrics.path)
        async with _serving(config, status, config.ledger.http_port, "ledger.http_port"):
            await _run_together([_consuming(ledger_consumer), *heap_trim_jobs(config)], stop)
    finally:
        app.close()
        with contextlib.suppress(BusUnavailable):
            await bus.aclose()


async def run_projector(config: LLMuxConfig, stop: asyncio.Event) -> None:
    """``llmux projector``: event store → read models, until ``stop``."""
    app = _open_ledger(config)
    runners = _runners(config, app)
    status = projector_status_app(runners, app, config.metrics.path)
    async with _serving(config, status, config.projector.http_port, "projector.http_port"):
        await _run_together([_projector_job(runners, app), *heap_trim_jobs(config)], stop)


@contextlib.asynccontextmanager
async def _serving(config: LLMuxConfig, status: Any, port: int, port_name: str
                   ) -> AsyncIterator[None]:
    """Serve a process's ``status`` app on ``port`` for the duration (not at all for port 0)."""
    if not port:
        yield
        return
    listener = Listener(status, config.server.host, port, port_name=port_name,
                        read_timeout_s=duration_seconds(config.server.read_timeout))
    await listener.start()
    try:
        yield
    finally:
        await listener.aclose()


def rebuild_projection(config: LLMuxConfig, name: str) -> int:
    """Drop projection ``name`` and replay it from the event log; returns the events replayed."""
    app = _open_ledger(config)
    runner = ProjectionRunner(app, open_projection(name, **_projection_store(config)))
    try:
        return runner.rebuild()
    finally:
        runner.projection.view.close()
        app.close()
