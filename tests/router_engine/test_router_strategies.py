"""Each strategy through the ``Router``: ``routing.strategy`` decides which deployment serves.

The strategies' own tables (``tests/router_engine/strategies/``) check each rule in isolation; here
the same rules must hold end to end: filters, live stats fed by real calls, tickets and cooldowns.
"""

from __future__ import annotations

import asyncio
from collections import Counter
from decimal import Decimal

import pytest

from router_engine import StreamCall
from schemas.errors import RateLimited
from tests.router_engine.scripted import (
    BODY,
    STREAM_BODY,
    FakeClock,
    ScriptedUpstream,
    build_router,
    one_each,
)


@pytest.fixture
def upstream() -> ScriptedUpstream:
    return ScriptedUpstream()


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


async def serve(router, n: int, body=BODY) -> list[str]:  # type: ignore[no-untyped-def]
    """The upstream model that served each of ``n`` sequential calls."""
    served = []
    for _ in range(n):
        result = await router.complete(body, model="m")
        served.append(result.deployment.upstream_model)
    return served


async def test_simple_shuffle_draws_by_weight(upstream: ScriptedUpstream, clock: FakeClock) -> None:
    providers = one_each("a", "b", "c", a={"weight": 3}, b={"weight": 1}, c={"weight": 0})
    router = build_router(upstream, providers, clock, strategy="simple-shuffle")
    counts = Counter(await serve(router, 1000))
    assert counts["c"] == 0
    assert abs(counts["a"] / 1000 - 0.75) <= 0.04, counts


async def test_round_robin_rotates_and_skips_cooled_down(upstream: ScriptedUpstream,
                                                         clock: FakeClock) -> None:
    router = build_router(upstream, one_each("c", "a", "b"), clock, strategy="round-robin")
    assert await serve(router, 7) == ["a", "b", "c", "a", "b", "c", "a"]
    await router.health.cool_down("b/m", 30, "test")
    assert set(await serve(router, 6)) == {"a", "c"}
    await router.health.clear("b/m")
    assert "b" in await serve(router, 3)


async def test_lowest_latency_settles_on_the_fastest(upstream: ScriptedUpstream,
                                                     clock: FakeClock) -> None:
    upstream.delay_s["slow"] = 0.03
    router = build_router(upstream, one_each("slow", "fast"), clock, strategy="lowest-latency")
    served = await serve(router, 30)
    assert "slow" in served, "an unmeasured deployment is always in the pool, so it gets measured"
    both_measured = max(served.index("slow"), served.index("fast"))
    assert set(served[both_measured + 1:]) == {"fast"}
    stats = router.health.snapshot()
    slow, fast = stats.get("slow/m").latency_ewma_ms, stats.get("fast/m").latency_ewma_ms
    assert slow is not None and fast is not None and fast < slow


async def test_least_busy_counts_calls_in_flight(upstream: ScriptedUpstream,
                                                 clock: FakeClock) -> None:
    release = {name: asyncio.Event() for name in ("a", "b")}
    upstream.holds.update(release)
    router = build_router(upstream, one_each("a", "b"), clock, strategy="least-busy")
    first = await router.open_stream(STREAM_BODY, model="m")
    second = await router.open_stream(STREAM_BODY, model="m")
    assert {first.deployment.id, second.deployment.id} == {"a/m", "b/m"}
    assert router.health.snapshot().get(first.deployment.id).in_flight == 1
    await finish(first, release)
    assert router.health.snapshot().get(first.deployment.id).in_flight == 0
    third = await router.open_stream(STREAM_BODY, model="m")
    assert third.deployment.id == first.deployment.id  # the other one is still busy
    for call in (second, third):
        await finish(call, release)


async def finish(call: StreamCall, release: dict[str, asyncio.Event]) -> None:
    release[call.deployment.upstream_model].set()
    frames = [frame async for frame in call]
    await call.aclose()
    assert frames[-1] == b"data: [DONE]\n\n"
    release[call.deployment.upstream_model].clear()


async def test_lowest_tpm_rpm_spreads_usage_and_refuses_past_limits(
        upstream: ScriptedUpstream, clock: FakeClock) -> None:
    providers = one_each("a", "b", a={"rpm": 2}, b={"rpm": 3})
    router = build_router(upstream, providers, clock, strategy="lowest-tpm-rpm")
    served = await serve(router, 5)
    assert Counter(served) == {"a": 2, "b": 3}
    assert served[:4].count("a") == 2, "the least used deployment goes first"
    with pytest.raises(RateLimited) as caught:
        await router.complete(BODY, model="m")
    assert caught.value.headers["Retry-After"] == "55"  # the minute has 55 s left
    assert len(upstream.calls) == 5
    clock.advance(60)
    assert len(await serve(router, 2)) == 2  # a new minute


async def test_lowest_tpm_rpm_skips_a_deployment_the_call_would_push_over_tpm(
        upstream: ScriptedUpstream, clock: FakeClock) -> None:
    providers = one_each("small", "big", small={"tpm": 100}, big={"tpm": 100_000})
    router = build_router(upstream, providers, clock, strategy="lowest-tpm-rpm")
    await serve(router, 2)  # both used once: 15 tokens each
    assert set(await serve(router, 4, {**BODY, "max_tokens": 500})) == {"big"}


async def test_lowest_cost_takes_the_cheapest_healthy(upstream: ScriptedUpstream,
                                                      clock: FakeClock) -> None:
    def price(inp: str, out: str) -> dict[str, Decimal]:
        return {"input_cost_per_mtok": Decimal(inp), "output_cost_per_mtok": Decimal(out)}

    providers = one_each("dear", "cheap", "cheapest", dear=price("5", "15"),
                         cheap=price("1", "2"), cheapest=price("0.5", "1"))
    router = build_router(upstream, providers, clock, strategy="lowest-cost")
    assert set(await serve(router, 5)) == {"cheapest"}
    await router.health.cool_down("cheapest/m", 30, "test")
    assert set(await serve(router, 5)) == {"cheap"}
