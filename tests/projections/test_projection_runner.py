"""The runner: follows the log while running, and two runners on one view still apply once."""

from __future__ import annotations

import asyncio
import functools
import os
import socket
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest

from ledger import LedgerApp
from projections import (
    PROJECTION_NAMES,
    ProjectionConflict,
    ProjectionRunner,
    StoreUnavailable,
    open_projection,
    open_queries,
)
from schemas.errors import ServiceUnavailable
from tests.projections.backends import (
    OpenProjection,
    PostgresBackend,
    ProjectionFixtures,
    SQLiteBackend,
)
from tests.projections.events import expected_spend, mixed_log
from tests.projections.helpers import running, spend_totals, until


def _applied(lanes: list[tuple[int, int]], count: int) -> bool:
    return sum(applied for applied, _ in lanes) == count


def _catch_up(runner: ProjectionRunner) -> int:
    conflicts = 0
    for _ in range(1000):  # bounded: each retry follows another runner's commit
        try:
            runner.run_until_caught_up()
            return conflicts
        except ProjectionConflict:
            conflicts += 1
    raise AssertionError("never caught up")


class RunnerContract(ProjectionFixtures):
    async def test_run_follows_the_log_until_stopped(
        self, ledger: LedgerApp, projection: OpenProjection
    ) -> None:
        runner = ProjectionRunner(ledger, projection("spend"), batch_size=10, poll_interval_s=0.02)
        observer = projection("spend")  # its own connection: the runner's is the runner's alone
        events = mixed_log(60)
        async with running(runner):
            for start in range(0, 60, 20):
                await asyncio.to_thread(ledger.record, events[start:start + 20])
                runner.wake()
                await until(lambda: observer.view.position() == ledger.max_position())
        assert spend_totals(observer) == expected_spend(events)

    @pytest.mark.parametrize("woken", [False, True])
    async def test_run_follows_the_log_without_wakes(
        self, ledger: LedgerApp, projection: OpenProjection, woken: bool
    ) -> None:
        # Unwoken: polling alone (distributed mode). Woken once: the safety-net poll still looks.
        runner = ProjectionRunner(ledger, projection("spend"), batch_size=10, poll_interval_s=0.02)
        observer = projection("spend")
        events = mixed_log(40)
        async with running(runner):
            await asyncio.to_thread(ledger.record, events[:10])
            if woken:
                runner.wake()
            await until(lambda: observer.view.position() == ledger.max_position())
            await asyncio.to_thread(ledger.record, events[10:])
            await until(lambda: observer.view.position() == ledger.max_position())
        assert spend_totals(observer) == expected_spend(events)

    async def test_passes_that_keep_up_wait_for_an_idle_core_and_a_backlog_does_not(
        self, ledger: LedgerApp, projection: OpenProjection
    ) -> None:
        # Standalone: a pass that read a full batch or more was behind; the next one competes.
        spend = projection("spend")
        lanes: list[tuple[int, int]] = []
        apply = spend.process_batch

        def noting_lane(events: Any, tracking: Any) -> None:
            lanes.append((len(events), os.sched_getscheduler(0)))
            apply(events, tracking)

        spend.process_batch = noting_lane  # type: ignore[method-assign]
        runner = ProjectionRunner(ledger, spend, batch_size=10, poll_interval_s=0.02,
                                  yield_to_requests=True)
        events = mixed_log(31)
        ledger.record(events[:25])
        async with running(runner):
            await until(lambda: len(lanes) == 3)
            for end in (28, 31):
                await asyncio.to_thread(ledger.record, events[end - 3:end])
                runner.wake()
                await until(functools.partial(_applied, lanes, end))
        idle, other = os.SCHED_IDLE, os.SCHED_OTHER
        assert lanes == [(10, idle), (10, idle), (5, idle), (3, other), (3, idle)]

    def test_two_runners_on_one_view_apply_each_event_once(
        self, ledger: LedgerApp, projection: OpenProjection
    ) -> None:
        events = mixed_log(120)
        ledger.record(events)
        runners = [ProjectionRunner(ledger, projection("spend"), batch_size=5) for _ in range(2)]
        with ThreadPoolExecutor(max_workers=2) as pool:
            list(pool.map(_catch_up, runners))
        assert spend_totals(runners[0].projection) == expected_spend(events)
        assert runners[1].projection.view.position() == ledger.max_position()


class TestRunnerOnSQLite(SQLiteBackend, RunnerContract):
    pass


class TestRunnerOnPostgres(PostgresBackend, RunnerContract):
    pass


def test_projections_are_named(tmp_path: Path) -> None:
    assert PROJECTION_NAMES == ("spend", "keys", "control", "scope_spend")
    path = str(tmp_path / "projections.db")
    with pytest.raises(ValueError, match="spend, keys, control, scope_spend"):
        open_projection("budgets", sqlite_path=path)
    with pytest.raises(ValueError, match="exactly one"):
        open_projection("spend")


def _dead_postgres_url() -> str:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = int(sock.getsockname()[1])
    return f"postgresql://llmux:s3cret-pw@127.0.0.1:{port}/views"


def test_unreachable_postgres_view_store_is_a_clear_error() -> None:
    with pytest.raises(StoreUnavailable) as caught:
        open_projection("spend", postgres_url=_dead_postgres_url())
    assert "PostgreSQL at 127.0.0.1" in str(caught.value)
    assert "s3cret-pw" not in str(caught.value)


async def test_unreachable_postgres_queries_are_service_unavailable() -> None:
    queries = open_queries(postgres_url=_dead_postgres_url())
    try:
        with pytest.raises(ServiceUnavailable) as caught:
            await queries.spend_by_key()
        assert caught.value.status == 503 and "s3cret-pw" not in caught.value.message
    finally:
        await queries.aclose()
