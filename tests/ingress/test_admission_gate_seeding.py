"""Budget seeding: counters restored from the ``scope_spend`` read model after a restart.

Real components: the SQLite ledger and projection, the memory admission, the control state.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Iterator
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from ingress.admission import EPOCH, MemoryAdmission
from ingress.auth import Caller
from ingress.budget_seeding import BudgetSeeder, budget_scopes
from ingress.control import ControlState
from ledger import LedgerApp, open_ledger
from projections import ProjectionRunner, open_projection, open_queries
from projections.queries import SpendQueries
from schemas.events import (
    EndUserState,
    EntityState,
    EventEnvelope,
    GatewayStarted,
    OrgMember,
    OrgState,
    UsageRecorded,
)
from tests.ingress.control.factories import T0, key, limits, team, user

NOW = T0 + timedelta(hours=2, minutes=30)
"""A 1h budget anchored at T0 is in its window [T0 + 2h, T0 + 3h)."""


def _state(*entities: EntityState) -> ControlState:
    state = ControlState()
    state.load(entities)
    return state


def _usage(when: datetime, cost: int, **dims: Any) -> EventEnvelope:
    payload = UsageRecorded(model_requested=dims.pop("model", "m"), deployment="p/m",
                            provider="p", model="m", cost_micros=cost,
                            **{"key_id": "k1", **dims})
    return EventEnvelope.wrap(payload, actor="key:k1", request_id=uuid.uuid4().hex,
                              occurred_at=when)


class Stores:
    """A SQLite ledger and its scope_spend projection, as a standalone gateway keeps them."""

    def __init__(self, tmp_path: Path) -> None:
        self.ledger: LedgerApp = open_ledger(sqlite_path=str(tmp_path / "ledger.db"))
        self.path = str(tmp_path / "projections.db")
        self.runner = ProjectionRunner(self.ledger, open_projection("scope_spend",
                                                                   sqlite_path=self.path))
        self.queries: SpendQueries = open_queries(sqlite_path=self.path)

    def publish_nowait(self, envelope: EventEnvelope) -> None:
        """The outbox's place: the event goes to the ledger; the projector applies it later."""
        self.ledger.record([envelope])

    def close(self) -> None:
        self.runner.projection.view.close()
        self.ledger.close()


@pytest.fixture
def stores(tmp_path: Path) -> Iterator[Stores]:
    built = Stores(tmp_path)
    yield built
    built.close()


def test_seeded_scopes_are_exactly_those_the_admission_counts() -> None:
    budget = limits(max_budget_micros=100, budget_duration="1d")
    state = _state(
        OrgState(org_id="o1", created_at=T0, limits=budget,
                 members=[OrgMember(user_id="u1", max_budget_micros=50)]),
        team("t1", org_id="o1", limits=limits(soft_budget_micros=5)),
        user("u1", limits=limits(max_budget_micros=7, model_max_budget_micros={"m": 3})),
        key("k1", user_id="u1", team_id="t1", limits=limits(rpm_limit=5)),
        EndUserState(end_user_id="e1", created_at=T0, limits=budget),
    )
    seeded = dict((limit.scope, (limit, filters)) for limit, filters in budget_scopes(state))
    counted = [limit for limit in state.limits_for(Caller(key=state.key("k1")), "m", "e1")
               if limit.has_budget]
    assert {limit.scope for limit in counted} == {
        "user:u1", "user:u1:model:m", "team:t1", "orgmember:o1:u1", "org:o1", "enduser:e1"}
    for limit in counted:
        assert seeded[limit.scope][0] == limit  # same window length, anchor and amounts
    assert seeded["user:u1:model:m"][1] == {"user_id": "u1", "model": "m"}
    assert seeded["orgmember:o1:u1"][1] == {"org_id": "o1", "user_id": "u1"}
    assert seeded["enduser:e1"][1] == {"end_user": "e1"}
    assert "key:k1" not in seeded  # rpm only: nothing to seed


async def test_a_restart_seeds_the_current_window_from_the_projection(stores: Stores) -> None:
    stores.ledger.record([
        _usage(T0 + timedelta(hours=1, minutes=50), 1000),   # the previous 1h window
        _usage(T0 + timedelta(hours=2, minutes=10), 300),
        _usage(T0 + timedelta(hours=2, minutes=20), 200, team_id="t9"),
    ])
    stores.runner.run_until_caught_up()
    state = _state(key("k1", limits=limits(max_budget_micros=600, budget_duration="1h")),
                   team("t9", limits=limits(max_budget_micros=10**6)))
    admission = MemoryAdmission()
    seeder = BudgetSeeder(admission, state, stores.queries, stores, mode="standalone",
                          catch_up=False, clock=lambda: NOW)
    await seeder.start()
    await seeder.aclose()
    window = T0 + timedelta(hours=2)
    assert (await admission.budget_spend("key:k1", window)).spent_micros == 500
    assert (await admission.budget_spend("team:t9", EPOCH)).spent_micros == 200  # lifetime
    assert seeder.seeded_total == 2


async def test_startup_waits_until_the_projection_has_caught_up(stores: Stores) -> None:
    stores.ledger.record([_usage(T0 + timedelta(hours=2, minutes=5), 400)])  # not projected yet
    state = _state(key("k1", limits=limits(max_budget_micros=600, budget_duration="1h")))
    admission = MemoryAdmission()
    stop = asyncio.Event()
    projector = asyncio.create_task(stores.runner.run(stop))
    seeder = BudgetSeeder(admission, state, stores.queries, stores, mode="standalone",
                          catch_up=True, clock=lambda: NOW)
    try:
        await seeder.start()
        window = T0 + timedelta(hours=2)
        assert (await admission.budget_spend("key:k1", window)).spent_micros == 400
        started = [e for _, e in stores.ledger.read_envelopes(1, 10)
                   if e.type == GatewayStarted.TYPE]
        assert len(started) == 1
    finally:
        await seeder.aclose()
        stop.set()
        await projector


async def test_a_budget_added_later_is_seeded_too(stores: Stores) -> None:
    stores.ledger.record([_usage(T0 + timedelta(hours=2, minutes=10), 250)])
    stores.runner.run_until_caught_up()
    state = _state(key("k1"))
    admission = MemoryAdmission()
    seeder = BudgetSeeder(admission, state, stores.queries, stores, mode="standalone",
                          catch_up=False, poll_s=0.01, clock=lambda: NOW)
    await seeder.start()
    try:
        assert seeder.seeded_total == 0
        state.put(key("k1", limits=limits(max_budget_micros=300, budget_duration="1h")))
        state.generation += 1
        for _ in range(200):
            if seeder.seeded_total:
                break
            await asyncio.sleep(0.01)
        window = T0 + timedelta(hours=2)
        assert (await admission.budget_spend("key:k1", window)).spent_micros == 250
    finally:
        await seeder.aclose()
