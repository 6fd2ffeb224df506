"""The key registry read model: every created key, loaded by the gateway at startup."""

from __future__ import annotations

from datetime import UTC, timedelta
from typing import Any

from ledger import LedgerApp
from projections import KeyRecord, KeyRegistryView, Projection, ProjectionRunner, open_queries
from tests.projections.backends import (
    OpenProjection,
    PostgresBackend,
    ProjectionFixtures,
    SQLiteBackend,
    Stores,
)
from tests.projections.events import (
    BASE_TIME,
    PLUS_TWO,
    completed_event,
    key_created_event,
    usage_event,
)


def _view(keys: Projection[Any]) -> KeyRegistryView:
    assert isinstance(keys.view, KeyRegistryView)
    return keys.view


class KeysContract(ProjectionFixtures):
    async def test_every_created_key_is_known_with_all_its_fields(
        self, ledger: LedgerApp, projection: OpenProjection, stores: Stores
    ) -> None:
        later = (BASE_TIME + timedelta(seconds=1, microseconds=5)).astimezone(PLUS_TWO)
        ledger.record([
            usage_event("key-a", BASE_TIME),
            key_created_event("key-b", later),
            key_created_event("key-a", BASE_TIME, key_alias="alpha", user_id="u1", team_id="t1",
                              org_id="o1", models=["gpt-4o", "claude-3"],
                              metadata={"z": "last", "a": "first"}, source_ip="10.0.0.1"),
            completed_event("key-a", BASE_TIME),
        ])
        keys = projection("keys")
        assert ProjectionRunner(ledger, keys).run_until_caught_up() == 4
        expected = [
            KeyRecord(key_id="key-a", key_hash="hash-key-a", key_prefix="sk-llmux-key-a",
                      key_alias="alpha", user_id="u1", team_id="t1", org_id="o1",
                      models=("gpt-4o", "claude-3"), metadata={"z": "last", "a": "first"},
                      created_at=BASE_TIME),
            KeyRecord(key_id="key-b", key_hash="hash-key-b", key_prefix="sk-llmux-key-b",
                      key_alias=None, user_id=None, team_id=None, org_id=None, models=(),
                      metadata={}, created_at=later),
        ]
        assert _view(keys).records() == expected
        queries = open_queries(**stores.views)
        try:
            loaded = await queries.keys()
        finally:
            await queries.aclose()
        assert loaded == expected
        assert all(record.created_at.utcoffset() == timedelta(0) for record in loaded)
        assert loaded[1].created_at == later.astimezone(UTC)

    def test_a_key_id_created_twice_keeps_its_first_record(
        self, ledger: LedgerApp, projection: OpenProjection
    ) -> None:
        ledger.record([key_created_event("key-a", BASE_TIME, key_alias="first")])
        ledger.record([key_created_event("key-a", BASE_TIME, key_alias="second"),
                       key_created_event("key-a", BASE_TIME, key_alias="third")])
        keys = projection("keys")
        ProjectionRunner(ledger, keys, batch_size=1).run_until_caught_up()
        assert [record.key_alias for record in _view(keys).records()] == ["first"]

    def test_rebuild_equals_the_live_registry(
        self, ledger: LedgerApp, projection: OpenProjection
    ) -> None:
        keys = projection("keys")
        runner = ProjectionRunner(ledger, keys, batch_size=3)
        for index in range(12):
            ledger.record([key_created_event(f"key-{index:02d}", BASE_TIME + timedelta(hours=index),
                                             models=["m"], metadata={"n": str(index)}),
                           usage_event(f"key-{index:02d}", BASE_TIME)])
            runner.run_until_caught_up()
        table = "SELECT * FROM key_registry ORDER BY key_id"
        before = keys.view.store.select(table)
        assert len(before) == 12
        assert runner.rebuild() == 24
        assert keys.view.store.select(table) == before


class TestKeysOnSQLite(SQLiteBackend, KeysContract):
    pass


class TestKeysOnPostgres(PostgresBackend, KeysContract):
    pass
