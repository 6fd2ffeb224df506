"""The admission gate on Redis: limits shared by two instances, and the policy when Redis is gone.

Two harnesses stand for two gateway instances: each has its own control state, chat service and
``RedisAdmission``; they share the real Redis (a key prefix of this test's own).
"""

from __future__ import annotations

import asyncio
import socket
import time
from collections.abc import AsyncIterator, Awaitable, Sequence
from datetime import UTC, datetime
from pathlib import Path

import pytest
from prometheus_client import generate_latest
from redis.asyncio import Redis

from ingress.accounting import RequestScope
from ingress.admission import RedisAdmission
from ingress.admission_gate import admission_readiness
from ingress.resources.health import CheckStatus
from ledger import LocalBus, Outbox
from schemas.errors import BudgetExceeded, RateLimited, ServiceUnavailable
from schemas.events import RequestRejected
from tests.ingress.test_admission_gate import MAX_TOKENS, Harness, config, prompt_tokens

pytestmark = pytest.mark.services


def _dead_redis_url() -> str:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return f"redis://127.0.0.1:{sock.getsockname()[1]}/0"


@pytest.fixture
async def bus(tmp_path: Path) -> AsyncIterator[tuple[LocalBus, Outbox]]:
    local = LocalBus(None)
    await local.start()
    outbox = Outbox(local, str(tmp_path / "spill"), flush_interval_s=0.001)
    await outbox.start()
    yield local, outbox
    await outbox.aclose()
    await local.aclose()


@pytest.fixture
async def pair(tmp_path: Path, bus: tuple[LocalBus, Outbox], redis_url: str,
               namespace: str) -> AsyncIterator[list[Harness]]:
    prefix = f"{namespace}:admission"
    instances = [Harness(config(tmp_path), bus[1], bus[0],
                         RedisAdmission(redis_url, prefix, pool_timeout_s=15.0,
                                        socket_timeout_s=15.0))
                 for _ in range(2)]
    for instance in instances:
        await instance.admission.start()
    yield instances
    for instance in instances:
        await instance.gate.aclose()
        await instance.router.aclose()
        await instance.admission.aclose()
    client = Redis.from_url(redis_url)
    keys = [k async for k in client.scan_iter(match=f"{{{prefix}}}*", count=500)]
    if keys:
        await client.delete(*keys)
    await client.aclose()


async def _outcomes(calls: Sequence[Awaitable[RequestScope]]) -> tuple[int, list[BaseException]]:
    results = await asyncio.gather(*calls, return_exceptions=True)
    errors = [r for r in results if isinstance(r, BaseException)]
    return len(results) - len(errors), errors


async def test_a_budget_admits_exactly_n_across_two_instances(pair: list[Harness]) -> None:
    reservation = prompt_tokens() * 100 + MAX_TOKENS * 200
    callers = [h.key("k-shared", max_budget_micros=4 * reservation) for h in pair]
    calls = [asyncio.ensure_future(pair[i % 2].call(callers[i % 2])) for i in range(100)]
    admitted, errors = await _outcomes(calls)
    assert admitted == 4 and all(isinstance(e, BudgetExceeded) for e in errors)
    limit = pair[0].state.limits_for(callers[0], "exact")[0]
    await asyncio.gather(*(h.gate.wait_settled() for h in pair))
    spend = await pair[0].admission.budget_spend(
        "key:k-shared", limit.budget_window_start(datetime.now(UTC)))
    assert 0 < spend.spent_micros <= 4 * reservation and spend.reserved_micros == 0


async def test_an_rpm_limit_holds_across_two_instances(pair: list[Harness]) -> None:
    callers = [h.key("k-rpm", rpm_limit=3) for h in pair]
    left_in_window = 60 - time.time() % 60
    if left_in_window < 2:  # NOTE: the burst must fall in one 60 s rate window
        await asyncio.sleep(left_in_window + 0.05)
    calls = [asyncio.ensure_future(pair[i % 2].call(callers[i % 2])) for i in range(10)]
    admitted, errors = await _outcomes(calls)
    assert admitted == 3 and all(isinstance(e, RateLimited) for e in errors)


@pytest.mark.parametrize(("policy", "ready", "status"),
                         [("closed", False, "fail_closed"), ("open", True, "fail_open")])
async def test_redis_unreachable_applies_the_policy_and_shows_it(
        tmp_path: Path, bus: tuple[LocalBus, Outbox], policy: str, ready: bool,
        status: str) -> None:
    admission = RedisAdmission(_dead_redis_url(), "dead", failure_policy=policy,
                               connect_timeout_s=0.2)
    harness = Harness(config(tmp_path), bus[1], bus[0], admission)
    caller = harness.key("k-outage", rpm_limit=100)
    try:
        assert await admission_readiness(admission)() == CheckStatus(ready, status)
        if policy == "closed":
            with pytest.raises(ServiceUnavailable):
                await harness.call(caller)
            rejected = [e for e in await harness.events(1) if isinstance(e, RequestRejected)]
            assert rejected[0].status_code == 503 and rejected[0].reason == "rate_limit"
        else:
            scope = await harness.call(caller)  # admitted against this instance's own limits
            assert scope.rate_headers["x-ratelimit-remaining-requests"] == "99"
        assert admission.is_degraded
        text = generate_latest(harness.metrics.registry).decode()
        assert f'llmux_admission_degraded{{failure_policy="{policy}"}} 1.0' in text
        assert "llmux_admission_store_failures_total 1.0" in text
    finally:
        await harness.router.aclose()
        await admission.aclose()


async def test_readiness_is_ok_while_redis_answers(redis_url: str) -> None:
    admission = RedisAdmission(redis_url, "readiness-probe")
    try:
        assert await admission_readiness(admission)() is True
    finally:
        await admission.aclose()
