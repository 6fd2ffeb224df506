"""Spend per budget dimension per minute: sums by any scope filter, starts seen, rebuild = live."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from ledger import LedgerApp
from projections import Projection, ProjectionRunner, open_queries
from projections.scope_spend import ScopeSpendView, epoch_minute, sum_query
from schemas.events import EventEnvelope, GatewayStarted, UsageRecorded
from tests.projections.backends import (
    OpenProjection,
    PostgresBackend,
    ProjectionFixtures,
    SQLiteBackend,
    Stores,
)
from tests.projections.events import completed_event

T0 = datetime(2026, 3, 1, 9, 30, 0, tzinfo=UTC)


def _usage(when: datetime, cost: int, *, key: str | None = "k1", user: str | None = "u1",
           team: str | None = "t1", org: str | None = "o1", end_user: str | None = None,
           model: str = "gpt-4o") -> EventEnvelope:
    payload = UsageRecorded(key_id=key, user_id=user, team_id=team, org_id=org,
                            end_user=end_user, model_requested=model, deployment="p/gpt-4o",
                            provider="p", model="gpt-4o", cost_micros=cost)
    return EventEnvelope.wrap(payload, actor="key:k1", request_id=uuid.uuid4().hex,
                              occurred_at=when)


def _log() -> list[EventEnvelope]:
    return [
        _usage(T0 - timedelta(seconds=30), 1),                     # the minute before T0
        _usage(T0, 10),
        _usage(T0 + timedelta(seconds=59), 100, model="gpt-4o-mini"),
        _usage(T0 + timedelta(minutes=5), 1000, key="k2", user=None, end_user="alice"),
        _usage(T0 + timedelta(hours=2), 10_000, team="t2", org=None),
        completed_event("k1", T0),
        EventEnvelope.wrap(GatewayStarted(instance_id="i1", mode="standalone"), actor="system",
                           occurred_at=T0),
    ]


def _view(projection: Projection[Any]) -> ScopeSpendView:
    assert isinstance(projection.view, ScopeSpendView)
    return projection.view


class ScopeSpendContract(ProjectionFixtures):
    def test_every_scope_is_a_filter_over_minutes(self, ledger: LedgerApp,
                                                  projection: OpenProjection) -> None:
        ledger.record(_log())
        view = _view(projection("scope_spend"))
        ProjectionRunner(ledger, projection("scope_spend")).run_until_caught_up()
        assert view.spend({"key_id": "k1"}, T0) == 10 + 100 + 10_000
        assert view.spend({"key_id": "k1"}, T0 - timedelta(minutes=1)) == 1 + 10 + 100 + 10_000
        assert view.spend({"key_id": "k1", "model": "gpt-4o-mini"}, T0) == 100
        assert view.spend({"team_id": "t1"}, T0) == 10 + 100 + 1000
        assert view.spend({"team_id": "t2"}, T0) == 10_000
        assert view.spend({"org_id": "o1", "user_id": "u1"}, T0) == 110  # an org member
        assert view.spend({"end_user": "alice"}, T0) == 1000
        assert view.spend({"user_id": "nobody"}, T0) == 0
        # NOTE: a window starting mid-minute counts that whole minute (the conservative side)
        assert view.spend({"key_id": "k1"}, T0 + timedelta(seconds=30)) == 110 + 10_000
        assert view.spend({"key_id": "k1"}, T0 + timedelta(minutes=1)) == 10_000

    def test_rebuild_equals_live_and_starts_are_recorded(self, ledger: LedgerApp,
                                                         projection: OpenProjection) -> None:
        events = _log()
        ledger.record(events[:3])
        live = projection("scope_spend")
        runner = ProjectionRunner(ledger, live, batch_size=2)
        runner.run_until_caught_up()
        ledger.record(events[3:])
        runner.run_until_caught_up()
        rows = _view(live).rows()
        assert sum(row.requests for row in rows) == 5
        assert runner.rebuild() == len(events)
        assert _view(live).rows() == rows
        started = str(events[-1].id)
        assert _view(live).store.select(
            "SELECT event_id FROM gateway_starts") == [(started,)]

    async def test_queries_read_the_same_sums(self, ledger: LedgerApp, stores: Stores,
                                              projection: OpenProjection) -> None:
        queries = open_queries(**stores.views)
        try:
            assert await queries.scope_spend({"key_id": "k1"}, T0) == 0  # no table yet: empty
            events = _log()
            ledger.record(events)
            ProjectionRunner(ledger, projection("scope_spend")).run_until_caught_up()
            assert await queries.scope_spend({"key_id": "k1"}, T0) == 10_110
            assert await queries.scope_spend({"org_id": "o1", "user_id": "u1"}, T0) == 110
            assert await queries.gateway_start_applied(str(events[-1].id))
            assert not await queries.gateway_start_applied(str(uuid.uuid4()))
        finally:
            await queries.aclose()


class TestScopeSpendOnSQLite(SQLiteBackend, ScopeSpendContract):
    pass


class TestScopeSpendOnPostgres(PostgresBackend, ScopeSpendContract):
    pass


def test_filters_name_known_columns_only() -> None:
    with pytest.raises(ValueError, match="scope filters"):
        sum_query(["key_id; DROP TABLE x"], lambda _: "?")
    with pytest.raises(ValueError, match="scope filters"):
        sum_query([], lambda _: "?")
    assert sum_query(["team_id"], lambda n: f"${n}").endswith("team_id = $1 AND minute >= $2")


def test_epoch_minutes_are_utc() -> None:
    assert epoch_minute(datetime(1970, 1, 1, 0, 1, 59, tzinfo=UTC)) == 1
    assert epoch_minute(datetime(1970, 1, 1, 0, 2)) == 2  # naive means UTC
