"""The runner: follows the log while running, and two runners on one view still apply once."""

from __future__ import annotations

import asyncio
import socket
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

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
