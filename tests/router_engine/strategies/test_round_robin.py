from __future__ import annotations

import random
from types import MappingProxyType

from router_engine.stats import MemoryStatsStore, StatsSnapshot
from router_engine.strategies import RoundRobin, RoutingRequest
from tests.router_engine.strategies.tables import dep

CANDIDATES = [dep("c"), dep("a"), dep("b")]


def pick(ticket: int | None, stats: StatsSnapshot | None = None, candidates=CANDIDATES) -> str:
    request = RoutingRequest(model_group="g", round_robin_ticket=ticket)
    chosen = RoundRobin().choose(candidates, stats or StatsSnapshot(), random.Random(0), request)
    return chosen.upstream_model


def test_tickets_rotate_in_id_order() -> None:
    assert [pick(t) for t in range(1, 8)] == ["a", "b", "c", "a", "b", "c", "a"]


def test_choice_depends_only_on_ticket() -> None:
    assert {pick(5) for _ in range(20)} == {"b"}
    for seed in range(5):
        request = RoutingRequest(model_group="g", round_robin_ticket=5)
        chosen = RoundRobin().choose(CANDIDATES, StatsSnapshot(), random.Random(seed), request)
        assert chosen.upstream_model == "b"


def test_filtered_candidate_is_skipped() -> None:
    without_b = [dep("c"), dep("a")]
    assert [pick(t, candidates=without_b) for t in range(1, 5)] == ["a", "c", "a", "c"]


def test_without_ticket_uses_snapshot_counter_plus_one() -> None:
    stats = StatsSnapshot(round_robin=MappingProxyType({"g": 4}))
    assert pick(None, stats) == "b"  # ticket 5: (5 - 1) % 3 == 1


async def test_store_tickets_drive_an_even_rotation() -> None:
    store = MemoryStatsStore()
    strategy = RoundRobin()
    assert strategy.uses_round_robin
    seen = []
    for _ in range(300):
        ticket = await store.next_round_robin("g")
        request = RoutingRequest(model_group="g", round_robin_ticket=ticket)
        seen.append(strategy.choose(CANDIDATES, store.snapshot(), random.Random(0), request).id)
    assert {name: seen.count(name) for name in set(seen)} == {"p/a": 100, "p/b": 100, "p/c": 100}
    assert seen[:3] == ["p/a", "p/b", "p/c"]
