"""Spend per key per UTC day: exact totals, exactly once, and a rebuild equal to the live rows."""

from __future__ import annotations

import uuid
from datetime import date
from typing import Any

import msgspec
import pytest

from ledger import LedgerApp
from projections import (
    Projection,
    ProjectionConflict,
    ProjectionRunner,
    SpendRow,
    SpendView,
    Tracking,
    open_queries,
)
from schemas.events import EventEnvelope
from tests.projections.backends import (
    OpenProjection,
    PostgresBackend,
    ProjectionFixtures,
    SQLiteBackend,
    Stores,
)
from tests.projections.events import BASE_TIME, expected_spend, mixed_log, usage_event


def _as_expected(rows: list[SpendRow]) -> dict[tuple[str, str], tuple[int, ...]]:
    return {
        (row.key_id, row.day.isoformat()): (row.requests, row.prompt_tokens, row.completion_tokens,
                                            row.cached_tokens, row.reasoning_tokens,
                                            row.cost_micros)
        for row in rows
    }


def _view(spend: Projection[Any]) -> SpendView:
    assert isinstance(spend.view, SpendView)
    return spend.view


class SpendContract(ProjectionFixtures):
    def test_totals_match_the_usage_events_exactly(
        self, ledger: LedgerApp, projection: OpenProjection
    ) -> None:
        events = mixed_log(150)
        ledger.record(events)
        spend = projection("spend")
        runner = ProjectionRunner(ledger, spend, batch_size=25)
        assert runner.run_until_caught_up() == 150
        expected = expected_spend(events)
        assert len(expected) >= 10  # several keys (and no key) over several UTC days
        assert _as_expected(_view(spend).rows()) == expected
        assert spend.view.position() == ledger.max_position()

    async def test_queries_give_newest_day_first_with_usd(
        self, ledger: LedgerApp, projection: OpenProjection, stores: Stores
    ) -> None:
        events = mixed_log(90)
        ledger.record(events)
        ProjectionRunner(ledger, projection("spend")).run_until_caught_up()
        queries = open_queries(**stores.views)
        try:
            rows = await queries.spend_by_key()
            only_a = await queries.spend_by_key("key-a")
        finally:
            await queries.aclose()
        order = [(row["day"], row["key_id"] or "") for row in rows]
        assert order == sorted(order, key=lambda item: (_negate(item[0]), item[1]))
        expected = expected_spend(events)
        assert {(row["key_id"] or "", row["day"]): _counts(row) for row in rows} == expected
        for row in rows:
            whole, micros = divmod(row["cost_micros"], 1_000_000)
            assert row["cost_usd"] == f"{whole}.{micros:06d}"
        assert None in {row["key_id"] for row in rows}  # master-key calls are reported too
        assert only_a == [row for row in rows if row["key_id"] == "key-a"] and only_a

    def test_exactly_once_across_runner_restarts(
        self, ledger: LedgerApp, projection: OpenProjection
    ) -> None:
        events = mixed_log(120)
        ledger.record(events[:70])
        first = projection("spend")
        assert ProjectionRunner(ledger, first, batch_size=16).run_until_caught_up() == 70
        first.view.close()  # the process stops
        ledger.record(events[50:])  # a redelivery overlapping what was stored: stored once
        restarted = ProjectionRunner(ledger, projection("spend"), batch_size=16)
        assert restarted.run_until_caught_up() == 50
        assert restarted.run_until_caught_up() == 0
        assert _as_expected(_view(restarted.projection).rows()) == expected_spend(events)

    def test_a_stale_writer_changes_nothing(
        self, ledger: LedgerApp, projection: OpenProjection
    ) -> None:
        ledger.record(mixed_log(40))
        spend = projection("spend")
        ProjectionRunner(ledger, spend).run_until_caught_up()
        view = _view(spend)
        before, position = view.rows(), view.position()
        stale = Tracking("spend", previous=0, position=3)
        with pytest.raises(ProjectionConflict):
            view.add_spend_with_tracking([SpendRow("key-a", date(2026, 3, 1), 1, 1, 1, 1, 1, 1)],
                                         stale)
        assert view.rows() == before and view.position() == position

    def test_rebuild_equals_the_live_rows_row_for_row(
        self, ledger: LedgerApp, projection: OpenProjection
    ) -> None:
        events = mixed_log(160)
        live = projection("spend")
        runner = ProjectionRunner(ledger, live, batch_size=7)
        for start in range(0, 160, 45):  # live: many small batches as events arrive
            ledger.record(events[start:start + 45])
            runner.run_until_caught_up()
        table = "SELECT * FROM spend_by_key_day ORDER BY key_id, day"
        before, position = live.view.store.select(table), live.view.position()
        assert runner.rebuild() == 160
        assert live.view.store.select(table) == before
        assert live.view.position() == position
        rebuilt = ProjectionRunner(ledger, projection("spend"), batch_size=1000)
        assert rebuilt.rebuild() == 160  # one batch instead of many: still the same rows
        assert live.view.store.select(table) == before

    def test_an_undecodable_payload_is_skipped_and_passed(
        self, ledger: LedgerApp, projection: OpenProjection
    ) -> None:
        broken = EventEnvelope(id=uuid.uuid4(), type="usage.recorded", version=1,
                               occurred_at=BASE_TIME, actor="x",
                               payload=msgspec.Raw(b'{"key_id": 5}'))
        good = usage_event("key-a", BASE_TIME, cost_micros=7)
        ledger.record([broken, good])
        spend = projection("spend")
        assert ProjectionRunner(ledger, spend).run_until_caught_up() == 2
        assert _as_expected(_view(spend).rows()) == expected_spend([good])
        assert spend.view.position() == ledger.max_position()

    async def test_queries_before_the_projector_ran_are_empty(self, stores: Stores) -> None:
        queries = open_queries(**stores.views)
        try:
            assert await queries.spend_by_key() == []
            assert await queries.keys() == []
        finally:
            await queries.aclose()


def _counts(row: dict[str, object]) -> tuple[object, ...]:
    names = ("requests", "prompt_tokens", "completion_tokens", "cached_tokens",
             "reasoning_tokens", "cost_micros")
    return tuple(row[name] for name in names)


def _negate(day: str) -> int:
    return -date.fromisoformat(day).toordinal()


class TestSpendOnSQLite(SQLiteBackend, SpendContract):
    pass


class TestSpendOnPostgres(PostgresBackend, SpendContract):
    pass
