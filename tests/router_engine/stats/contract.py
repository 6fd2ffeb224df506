"""The stats store contract, written once and run against every backend.

A subclass provides ``pair``: two stores that share stats the way two ingress instances of that
mode do (for standalone, one store twice), both reading ``clock``. ``settle`` is what the background
refresh does on its own: push each instance's writes, then pull the shared view.
"""

from __future__ import annotations

import dataclasses
import random

import pytest

from router_engine.stats import StatsStore
from router_engine.strategies import LeastBusy, RoundRobin, RoutingRequest, eligible
from tests.router_engine.strategies.tables import dep

Pair = tuple[StatsStore, StatsStore]

T0 = 1_900_000_025.0
"""Five seconds into a calendar minute; every test moves time explicitly."""
X, Y, Z = "p/x", "p/y", "p/z"


class FakeClock:
    def __init__(self, now: float = T0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


async def settle(pair: Pair) -> None:
    first, second = pair
    await first.refresh()
    await second.refresh()
    await first.refresh()


def end(store: StatsStore, deployment_id: str, **overrides: object) -> None:
    fields: dict[str, object] = dict(latency_ms=100.0, ttft_ms=None, ok=True, tokens=0, status=200)
    fields.update(overrides)
    store.record_end(deployment_id, **fields)  # type: ignore[arg-type]  # (test shorthand)


class StatsStoreContract:
    """Every stats backend passes these; subclasses provide the ``pair`` and ``clock`` fixtures."""

    async def test_in_flight_and_minute_requests_are_shared(self, pair: Pair) -> None:
        a, b = pair
        a.record_start(X)
        a.record_start(X)
        b.record_start(X)
        b.record_start(Y)
        await settle(pair)
        for store in pair:
            view = store.snapshot()
            assert (view.get(X).in_flight, view.get(X).minute_requests) == (3, 3)
            assert view.get(Y).in_flight == 1
        end(a, X, tokens=50)
        end(b, Y, tokens=7)
        await settle(pair)
        for store in pair:
            view = store.snapshot()
            assert (view.get(X).in_flight, view.get(X).minute_tokens) == (2, 50)
            assert (view.get(Y).in_flight, view.get(Y).minute_tokens) == (0, 7)
            assert view.get(X).minute_requests == 3

    async def test_own_writes_show_at_once(self, pair: Pair) -> None:
        a, _ = pair
        a.record_start(X)
        assert a.snapshot().get(X).in_flight == 1
        assert a.snapshot().get(X).minute_requests == 1
        end(a, X, tokens=11, ok=False, status=503)
        stats = a.snapshot().get(X)
        assert (stats.in_flight, stats.minute_tokens, stats.failures) == (0, 11, 1)

    async def test_latency_ewma_from_successes_only(self, pair: Pair) -> None:
        a, b = pair
        a.record_start(X)
        end(a, X, latency_ms=100.0, ttft_ms=40.0)
        await settle(pair)
        for latency in (200.0, 5.0):  # the 5 ms one failed: it must not make X look fast
            a.record_start(X)
            ok = latency > 100
            end(a, X, latency_ms=latency, ttft_ms=60.0, ok=ok, status=200 if ok else 500)
        await settle(pair)
        for store in pair:
            stats = store.snapshot().get(X)
            assert stats.latency_ewma_ms == pytest.approx(0.2 * 200 + 0.8 * 100)
            assert stats.ttft_ewma_ms == pytest.approx(0.2 * 60 + 0.8 * 40)
        assert b.snapshot().get(Y).latency_ewma_ms is None

    @pytest.mark.parametrize(
        ("ok", "status", "counts"),
        [
            (True, 200, (1, 0)),
            (False, 500, (0, 1)),
            (False, None, (0, 1)),
            (False, 429, (0, 1)),
            (False, 401, (0, 1)),
            (False, 400, (0, 0)),
            (False, 422, (0, 0)),
        ],
    )
    async def test_outcomes_counted_by_fault(
        self, pair: Pair, ok: bool, status: int | None, counts: tuple[int, int]
    ) -> None:
        a, b = pair
        a.record_start(X)
        end(a, X, ok=ok, status=status)
        await settle(pair)
        stats = b.snapshot().get(X)
        assert (stats.successes, stats.failures) == counts
        assert stats.success_rate == (0.0 if counts == (0, 1) else 1.0)

    async def test_minute_counts_restart_each_calendar_minute(
        self, pair: Pair, clock: FakeClock
    ) -> None:
        a, b = pair
        a.record_start(X)
        end(a, X, tokens=30)
        a.record_start(X)
        await settle(pair)
        assert b.snapshot().get(X).minute_tokens == 30
        clock.advance(55.0)  # T0 + 55 s is in the next minute
        await settle(pair)
        stats = b.snapshot().get(X)
        assert (stats.minute_requests, stats.minute_tokens, stats.in_flight) == (0, 0, 1)
        end(a, X, tokens=5)
        await settle(pair)
        assert b.snapshot().get(X).minute_tokens == 5

    async def test_health_window_forgets_old_outcomes(self, pair: Pair, clock: FakeClock) -> None:
        a, b = pair
        for _ in range(3):
            a.record_start(X)
            end(a, X, ok=False, status=500)
        clock.advance(30.0)
        a.record_start(X)
        end(a, X)
        await settle(pair)
        stats = b.snapshot().get(X)
        assert (stats.successes, stats.failures) == (1, 3)
        assert stats.success_rate == 0.25
        clock.advance(40.0)  # the failures are 70 s old, the success 40 s
        await settle(pair)
        assert (b.snapshot().get(X).successes, b.snapshot().get(X).failures) == (1, 0)

    async def test_round_robin_tickets_are_one_global_sequence(self, pair: Pair) -> None:
        a, b = pair
        tickets = [await pair[i % 2].next_round_robin("g") for i in range(6)]
        assert tickets == [1, 2, 3, 4, 5, 6]
        assert await b.next_round_robin("other") == 1
        await settle(pair)
        assert a.snapshot().round_robin["g"] == 6
        assert b.snapshot().round_robin == {"g": 6, "other": 1}

    async def test_own_round_robin_ticket_shows_at_once(self, pair: Pair) -> None:
        a, _ = pair
        assert "g" not in a.snapshot().round_robin  # a snapshot (and its counters) built first
        assert await a.next_round_robin("g") == 1
        assert a.snapshot().round_robin["g"] == 1
        assert await a.next_round_robin("g") == 2
        assert a.snapshot().round_robin["g"] == 2

    async def test_cooldown_set_on_one_holds_on_both_until_cleared(self, pair: Pair) -> None:
        a, b = pair
        await a.set_cooldown(X, until_s=T0 + 30, reason="5xx ratio")
        assert a.snapshot().get(X).cooldown is not None  # at once where it was set
        await settle(pair)
        for store in pair:
            cooldown = store.snapshot().get(X).cooldown
            assert cooldown is not None
            assert (cooldown.until_s, cooldown.reason) == (T0 + 30, "5xx ratio")
            assert store.snapshot().get(Y).cooldown is None
        await b.clear_cooldown(X)
        await settle(pair)
        assert [store.snapshot().get(X).cooldown for store in pair] == [None, None]

    async def test_cooldown_of_agrees_with_the_snapshot(self, pair: Pair) -> None:
        a, b = pair
        await a.set_cooldown(X, until_s=T0 + 30, reason="429")
        assert a.cooldown_of(X) == a.snapshot().get(X).cooldown is not None  # at once, locally
        await settle(pair)
        for store in pair:
            assert store.cooldown_of(X) == store.snapshot().get(X).cooldown is not None
            assert store.cooldown_of(Y) is None
        await b.clear_cooldown(X)
        assert b.cooldown_of(X) is None
        await settle(pair)
        assert [store.cooldown_of(X) for store in pair] == [None, None]

    async def test_snapshot_is_immutable_and_reused_until_something_changes(
        self, pair: Pair
    ) -> None:
        a, _ = pair
        a.record_start(X)
        first = a.snapshot()
        assert a.snapshot() is first
        with pytest.raises(dataclasses.FrozenInstanceError):
            first.get(X).in_flight = 9  # type: ignore[misc]  # (proving it is frozen)
        with pytest.raises(TypeError):
            first.deployments[X] = first.get(X)  # type: ignore[index]  # (read-only mapping)
        a.record_start(Y)
        second = a.snapshot()
        a.record_start(X)
        third = a.snapshot()
        assert third is not second
        assert first.get(X).in_flight == 1 and third.get(X).in_flight == 2
        assert third.get(Y) is second.get(Y)  # an untouched deployment is not rebuilt

    async def test_end_without_start_never_goes_negative(self, pair: Pair) -> None:
        a, b = pair
        end(a, X)
        await settle(pair)
        assert b.snapshot().get(X).in_flight == 0
        assert not b.snapshot().is_stale

    # -- strategies over the shared view ---------------------------------------------------------

    async def test_least_busy_counts_the_other_instances_calls(self, pair: Pair) -> None:
        a, b = pair
        for _ in range(2):
            a.record_start(X)
        a.record_start(Z)
        b.record_start(Y)
        b.record_start(Z)
        await settle(pair)
        candidates = [dep("x"), dep("y"), dep("z")]
        chosen = LeastBusy().choose(candidates, b.snapshot(), random.Random(1), RoutingRequest())
        assert chosen.id == Y  # x: 2 on a; y: 1 on b; z: 1 on a + 1 on b

    async def test_round_robin_rotates_across_instances(self, pair: Pair) -> None:
        candidates = [dep("x"), dep("y"), dep("z")]
        chosen = []
        for i in range(6):
            store = pair[i % 2]
            ticket = await store.next_round_robin("g")
            request = RoutingRequest(model_group="g", round_robin_ticket=ticket)
            pick = RoundRobin().choose(candidates, store.snapshot(), random.Random(i), request)
            chosen.append(pick.id)
        assert chosen == [X, Y, Z, X, Y, Z]

    async def test_cooldown_from_one_instance_removes_deployment_on_the_other(
        self, pair: Pair
    ) -> None:
        a, b = pair
        await a.set_cooldown(X, until_s=T0 + 30, reason="429")
        await settle(pair)
        candidates = [dep("x"), dep("y")]
        request = RoutingRequest(model_group="g")
        assert eligible(candidates, b.snapshot(), request, now_s=T0 + 1) == [dep("y")]
        # half-open after the cooldown: one probe, then nobody else until it ends
        assert eligible(candidates, b.snapshot(), request, now_s=T0 + 30) == candidates
        a.record_start(X)
        await settle(pair)
        assert eligible(candidates, b.snapshot(), request, now_s=T0 + 31) == [dep("y")]
