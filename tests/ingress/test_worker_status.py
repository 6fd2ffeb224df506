"""The projector's own port: how far each projection is behind the ledger, from real stores."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import falcon.testing
import pytest
from prometheus_client.parser import text_string_to_metric_families

from ingress.worker_status import projector_status_app
from ledger import LedgerApp, open_ledger
from projections import ProjectionRunner, open_projections
from tests.projections.events import mixed_log


@pytest.fixture
async def stores(tmp_path: Path) -> AsyncIterator[tuple[LedgerApp, list[ProjectionRunner]]]:
    app = open_ledger(sqlite_path=str(tmp_path / "ledger.db"))
    runners = ProjectionRunner.sharing_reads(
        app, open_projections(sqlite_path=str(tmp_path / "projections.db")))
    yield app, runners
    for runner in runners:
        await runner.aclose()
    app.close()


async def _scrape(conductor: falcon.testing.ASGIConductor) -> dict[str, dict[str, float]]:
    """``{metric: {projection: value}}`` for the per-projection gauges, ``{"": value}`` else."""
    text = (await conductor.simulate_get("/metrics")).text
    samples: dict[str, dict[str, float]] = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            samples.setdefault(sample.name, {})[sample.labels.get("projection", "")] = sample.value
    return samples


async def test_each_projection_reports_how_many_positions_it_is_behind(
        stores: tuple[LedgerApp, list[ProjectionRunner]]) -> None:
    app, runners = stores
    spend = runners[0]  # the only one that runs; the others have applied nothing yet
    app.record(mixed_log(30))
    spend.run_until_caught_up()
    status = projector_status_app(runners, app)

    async with falcon.testing.ASGIConductor(status) as conductor:
        first = await _scrape(conductor)
        app.record(mixed_log(12, seed=8))
        second = await _scrape(conductor)

    newest = app.max_position()
    name = spend.projection.name
    assert first["llmux_projection_lag_positions"] == {name: 0}  # the others never ran: no figure
    assert second["llmux_ledger_position"] == {"": newest}
    assert second["llmux_projection_position"] == {name: first["llmux_ledger_position"][""]}
    assert second["llmux_projection_lag_positions"] == {
        name: newest - first["llmux_ledger_position"][""]}
    assert newest - first["llmux_ledger_position"][""] >= 12  # recorded after the first scrape
    assert second["llmux_projection_waiting"] == {r.projection.name: 0 for r in runners}
