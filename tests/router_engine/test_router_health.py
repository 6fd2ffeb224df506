"""The router's reliability rules: breakers, cooldowns, half-open probes, backoff, fail-fast.

Deployments get an ``order`` where a test needs to know who is asked first: a lower order serves
while it is healthy, so traffic visibly shifts when its breaker opens and returns when it closes.
"""

from __future__ import annotations

import asyncio

import pytest

from router_engine import BreakerPhase, Router
from schemas.errors import (
    InvalidRequest,
    ServiceUnavailable,
    UpstreamAuthError,
    UpstreamError,
    UpstreamProtocolError,
)
from tests.router_engine.scripted import (
    BODY,
    STREAM_BODY,
    FakeClock,
    ScriptedUpstream,
    build_router,
    entry,
    one_each,
    provider,
)


@pytest.fixture
def upstream() -> ScriptedUpstream:
    return ScriptedUpstream()


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


def phase(router: Router, deployment_id: str) -> BreakerPhase:
    states = router.health.states([d for d in router.deployments() if d.id == deployment_id])
    return states[0].phase


async def test_failing_deployment_is_cooled_down_and_returns_after_a_probe(
        upstream: ScriptedUpstream, clock: FakeClock) -> None:
    upstream.status["primary"] = 500
    sleeps: list[float] = []
    router = build_router(upstream, one_each("primary", "backup", primary={"order": 1},
                                             backup={"order": 2}),
                          clock, sleeps, retry_count=1, allowed_fails=1, cooldown="10s")
    for _ in range(2):
        result = await router.complete(BODY, model="m")
        assert (result.deployment.upstream_model, result.attempts) == ("backup", 2)
    assert sleeps == [], "moving to an untried deployment does not wait"
    assert phase(router, "primary/m") is BreakerPhase.OPEN
    assert upstream.calls == ["primary", "backup"] * 2

    upstream.calls.clear()
    result = await router.complete(BODY, model="m")
    assert (result.deployment.upstream_model, result.attempts) == ("backup", 1)
    assert upstream.calls == ["backup"], "an open breaker gets no traffic"

    clock.advance(10)
    assert phase(router, "primary/m") is BreakerPhase.HALF_OPEN
    upstream.calls.clear()
    assert (await router.complete(BODY, model="m")).deployment.upstream_model == "backup"
    assert upstream.calls == ["primary", "backup"], "the probe failed"
    assert phase(router, "primary/m") is BreakerPhase.OPEN

    clock.advance(10)
    del upstream.status["primary"]
    assert (await router.complete(BODY, model="m")).deployment.upstream_model == "primary"
    assert phase(router, "primary/m") is BreakerPhase.CLOSED
    assert (await router.complete(BODY, model="m")).deployment.upstream_model == "primary"


async def test_half_open_admits_one_probe_at_a_time(upstream: ScriptedUpstream,
                                                    clock: FakeClock) -> None:
    release = asyncio.Event()
    upstream.holds["primary"] = release
    router = build_router(upstream, one_each("primary", "backup", primary={"order": 1},
                                             backup={"order": 2}), clock)
    await router.health.cool_down("primary/m", 5, "test")
    clock.advance(5)
    probe = await router.open_stream(STREAM_BODY, model="m")
    assert probe.deployment.upstream_model == "primary"
    other = await router.complete(BODY, model="m")
    assert other.deployment.upstream_model == "backup", "the probe is still running"
    release.set()
    assert [f async for f in probe][-1] == b"data: [DONE]\n\n"
    await probe.aclose()
    assert phase(router, "primary/m") is BreakerPhase.CLOSED


@pytest.mark.parametrize("status", [429, 401, 404])
async def test_immediate_cooldown_in_a_group_of_several(upstream: ScriptedUpstream,
                                                        clock: FakeClock, status: int) -> None:
    upstream.status["primary"] = status
    router = build_router(upstream, one_each("primary", "backup", primary={"order": 1},
                                             backup={"order": 2}), clock, allowed_fails=100)
    result = await router.complete(BODY, model="m")
    assert result.deployment.upstream_model == "backup"
    state = router.health.states(router.deployments())[0]
    assert state.phase is BreakerPhase.OPEN and state.cooldown_remaining_s == 30.0
    assert state.stats.cooldown is not None and str(status) in state.stats.cooldown.reason


async def test_no_immediate_cooldown_for_a_lone_deployment(upstream: ScriptedUpstream,
                                                           clock: FakeClock) -> None:
    upstream.status["only"] = 429
    router = build_router(upstream, one_each("only"), clock, retry_count=0, allowed_fails=3)
    for _ in range(3):
        with pytest.raises(UpstreamError):
            await router.complete(BODY, model="m")
    assert phase(router, "only/m") is BreakerPhase.CLOSED
    with pytest.raises(UpstreamError):
        await router.complete(BODY, model="m")
    assert phase(router, "only/m") is BreakerPhase.OPEN, "4 failures > allowed_fails opens it"


async def test_a_deployment_that_refuses_the_gateway_is_not_asked_again(
        upstream: ScriptedUpstream, clock: FakeClock) -> None:
    upstream.status.update({"refusing": 401, "broken": 500})
    sleeps: list[float] = []
    router = build_router(upstream, one_each("refusing", "broken", refusing={"order": 1},
                                             broken={"order": 2}),
                          clock, sleeps, retry_count=3, allowed_fails=100, cooldown="0s")
    with pytest.raises(UpstreamError) as caught:
        await router.complete(BODY, model="m")
    assert not isinstance(caught.value, UpstreamAuthError)
    assert upstream.calls == ["refusing", "broken", "broken", "broken"]
    assert len(sleeps) == 2, "only retries that reuse a deployment back off"


async def test_backoff_is_exponential_with_jitter(upstream: ScriptedUpstream,
                                                  clock: FakeClock) -> None:
    upstream.status["only"] = 503
    sleeps: list[float] = []
    router = build_router(upstream, one_each("only"), clock, sleeps, retry_count=4,
                          retry_backoff="100ms", allowed_fails=100)
    with pytest.raises(UpstreamError):
        await router.complete(BODY, model="m")
    assert len(upstream.calls) == 5 and len(sleeps) == 4
    for n, slept in enumerate(sleeps, start=1):
        ceiling = 0.1 * 2 ** (n - 1)
        assert ceiling / 2 <= slept <= ceiling, (n, sleeps)
    assert len(set(sleeps)) == 4


async def test_caller_errors_are_neither_retried_nor_held_against_the_deployment(
        upstream: ScriptedUpstream, clock: FakeClock) -> None:
    upstream.status["a"] = 400
    router = build_router(upstream, one_each("a", "b", a={"order": 1}, b={"order": 2}), clock,
                          allowed_fails=0)
    with pytest.raises(InvalidRequest):
        await router.complete(BODY, model="m")
    assert upstream.calls == ["a"]
    live = router.health.snapshot().get("a/m")
    assert (live.failures, live.successes, live.in_flight) == (0, 0, 0)
    assert phase(router, "a/m") is BreakerPhase.CLOSED


async def test_a_group_entirely_down_fails_fast(upstream: ScriptedUpstream,
                                                clock: FakeClock) -> None:
    router = build_router(upstream, one_each("a", "b"), clock)
    await router.health.cool_down("a/m", 20, "test")
    await router.health.cool_down("b/m", 40, "test")
    with pytest.raises(ServiceUnavailable) as caught:
        await router.complete(BODY, model="m")
    assert caught.value.code == "no_deployment_available" and caught.value.status == 503
    assert "2 of 2 cooling down" in caught.value.message
    assert caught.value.headers["Retry-After"] == "20"
    assert upstream.calls == []


async def test_fallback_serves_when_the_first_group_is_entirely_down(
        upstream: ScriptedUpstream, clock: FakeClock) -> None:
    providers = [*one_each("a", "b"), provider("spare", entry("spare", "backup"))]
    router = build_router(upstream, providers, clock, fallbacks={"m": ["backup"]})
    for deployment in ("a/m", "b/m"):
        await router.health.cool_down(deployment, 60, "test")
    result = await router.complete(BODY, model="m")
    assert (result.deployment.id, result.fallbacks, result.attempts) == ("spare/backup",
                                                                          ["backup"], 1)
    assert upstream.calls == ["spare"]


async def test_max_parallel_is_a_hard_cap(upstream: ScriptedUpstream, clock: FakeClock) -> None:
    release = asyncio.Event()
    upstream.holds["a"] = release
    router = build_router(upstream, one_each("a", a={"max_parallel": 1}), clock)
    held = await router.open_stream(STREAM_BODY, model="m")
    with pytest.raises(ServiceUnavailable):
        await router.complete(BODY, model="m")
    release.set()
    await held.aclose()  # closed before its end: the client went away
    live = router.health.snapshot().get("a/m")
    assert (live.in_flight, live.successes, live.failures) == (0, 0, 0)
    assert (await router.complete(BODY, model="m")).deployment.id == "a/m"


async def test_streams_report_their_end_to_health(upstream: ScriptedUpstream,
                                                  clock: FakeClock) -> None:
    upstream.break_after_first.add("a")
    router = build_router(upstream, one_each("a", "b", a={"order": 1}, b={"order": 2}), clock,
                          allowed_fails=100)
    broken = await router.open_stream(STREAM_BODY, model="m")
    assert broken.deployment.upstream_model == "a"
    with pytest.raises(UpstreamProtocolError):
        _ = [f async for f in broken]
    await broken.aclose()
    upstream.break_after_first.clear()
    good = await router.open_stream(STREAM_BODY, model="m")
    _ = [f async for f in good]
    await good.aclose()
    live = router.health.snapshot().get("a/m")
    assert (live.failures, live.successes, live.in_flight) == (1, 1, 0)
    assert live.ttft_ewma_ms is not None and live.minute_tokens == 15


async def test_tags_choose_deployments_and_stay_out_of_the_upstream_body(
        upstream: ScriptedUpstream, clock: FakeClock) -> None:
    providers = one_each("plain", "eu", "fallback", eu={"tags": ["eu", "fast"]},
                         fallback={"tags": ["default"]})
    router = build_router(upstream, providers, clock)
    for _ in range(5):
        result = await router.complete({**BODY, "tags": ["eu"]}, model="m")
        assert result.deployment.upstream_model == "eu"
    result = await router.complete({**BODY, "tags": ["us"]}, model="m")
    assert result.deployment.upstream_model == "fallback"
    assert all("tags" not in body for body in upstream.bodies)
    with pytest.raises(InvalidRequest):
        await router.complete({**BODY, "tags": "eu"}, model="m")
    lone = build_router(upstream, one_each("plain"), clock)
    with pytest.raises(InvalidRequest) as caught:
        await lone.complete({**BODY, "tags": ["eu"]}, model="m")
    assert caught.value.code == "no_deployment_for_tags"
