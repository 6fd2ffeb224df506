"""The admission contract for distributed mode: two instances (two pools) sharing the real Redis.

Plus what only Redis has: key expiry, one script call per admission, and the failure policy when
Redis is unreachable (a closed port, or a private redis-server that this test stops and restarts).
"""

from __future__ import annotations

import asyncio
import shutil
import socket
import subprocess
import time
from collections.abc import AsyncIterator, Coroutine, Iterator
from typing import Any

import pytest
import redis.asyncio as redis_asyncio

from ingress.admission import (
    AdmissionResult,
    FailurePolicy,
    Limit,
    RedisAdmission,
    RefusalKind,
)
from schemas.errors import ServiceUnavailable
from tests.ingress.admission.contract import NOW, AdmissionContract, Pair, budget, plan


class _Clock:
    """A monotonic clock the test moves by hand (the probe interval must not need a sleep)."""

    def __init__(self) -> None:
        self.now = 1_000.0

    def __call__(self) -> float:
        return self.now


async def _delete_namespace(redis_url: str, namespace: str) -> None:
    client = redis_asyncio.Redis.from_url(redis_url)
    try:
        keys = [key async for key in client.scan_iter(match=f"{{{namespace}}}:*", count=500)]
        if keys:
            await client.delete(*keys)
    finally:
        await client.aclose()


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


_PATIENT = {"pool_timeout_s": 15.0, "socket_timeout_s": 15.0}


class TestRedisAdmission(AdmissionContract):
    @pytest.fixture
    async def pair(self, redis_url: str, namespace: str) -> AsyncIterator[Pair]:
        # NOTE: generous timeouts: on a loaded 2-core machine 100 concurrent admits can wait for
        # a pooled connection longer than the production default of 1 s.
        first = RedisAdmission(redis_url, namespace, **_PATIENT)
        second = RedisAdmission(redis_url, namespace, **_PATIENT)
        yield first, second
        await first.aclose()
        await second.aclose()
        await _delete_namespace(redis_url, namespace)


@pytest.fixture
async def raw_redis(redis_url: str, namespace: str) -> AsyncIterator[redis_asyncio.Redis]:
    client = redis_asyncio.Redis.from_url(redis_url)
    yield client
    await client.aclose()
    await _delete_namespace(redis_url, namespace)


async def _commands_sent(raw_redis: redis_asyncio.Redis, namespace: str,
                         work: Coroutine[Any, Any, None]) -> list[str]:
    """The Redis commands (not those run by scripts) touching ``namespace`` while ``work`` ran."""
    marker = f"{namespace}-marker"
    commands: list[str] = []
    async with raw_redis.monitor() as monitor:
        await work
        await raw_redis.echo(marker)  # every command before it has been monitored
        deadline = time.monotonic() + 5
        while time.monotonic() < deadline:
            info = await asyncio.wait_for(monitor.next_command(), 5)
            if marker in info["command"]:
                break
            if info.get("client_type") != "lua" and namespace in info["command"]:
                commands.append(info["command"].split()[0].upper())
    return commands


async def test_every_key_expires_except_lifetime_budgets(
    redis_url: str, namespace: str, raw_redis: redis_asyncio.Redis
) -> None:
    admission = RedisAdmission(redis_url, namespace)
    key = Limit("key:k1", rpm=10, tpm=1_000, max_parallel=3)
    team = budget("team:t1", 10_000, soft_budget_micros=1)
    life = Limit("org:o1", max_budget_micros=10_000)
    results = [
        await admission.admit(plan(key, team, life, tokens=10, cost=5), NOW) for _ in range(2)
    ]
    first = results[0].reservation
    assert first is not None
    await admission.settle(first, 3, 8, NOW)
    keys = [k.decode() async for k in raw_redis.scan_iter(match=f"{{{namespace}}}:*")]
    assert len(keys) == 7  # rq, tk, pl for the key; b, bl for the team and for the org
    ttls = {k: await raw_redis.ttl(k) for k in keys}
    lifetime = {k for k in keys if k.split(":")[1] in {"b", "bl"} and ":org:o1:" in k}
    assert all(ttl == -1 for k, ttl in ttls.items() if k in lifetime)
    assert all(ttl > 0 for k, ttl in ttls.items() if k not in lifetime)
    rate_ttls = [ttl for k, ttl in ttls.items() if k.split(":")[1] in {"rq", "tk"}]
    assert max(rate_ttls) <= 55 + 60
    await admission.aclose()


async def test_one_script_call_per_admission_and_per_settle(
    redis_url: str, namespace: str, raw_redis: redis_asyncio.Redis
) -> None:
    admission = RedisAdmission(redis_url, namespace)
    limits = (
        Limit("key:k1", rpm=10, tpm=1_000, max_parallel=3),
        budget("team:t1", 10_000),
        budget("user:u1", 10_000, rpm=5),
        Limit("enduser:e1", tpm=500),
    )
    warm = await admission.admit(plan(*limits, tokens=10, cost=5), NOW)  # loads the scripts
    assert warm.reservation is not None
    await admission.settle(warm.reservation, 1, 1, NOW)

    async def admit_and_settle() -> None:
        result = await admission.admit(plan(*limits, tokens=10, cost=5), NOW)
        assert result.is_allowed and result.reservation is not None
        await admission.settle(result.reservation, 1, 1, NOW)

    commands = await _commands_sent(raw_redis, namespace, admit_and_settle())
    assert commands == ["EVALSHA", "EVALSHA"]
    await admission.aclose()


async def test_concurrent_admissions_share_one_script_call_and_keep_their_order(
    redis_url: str, namespace: str, raw_redis: redis_asyncio.Redis
) -> None:
    admission = RedisAdmission(redis_url, namespace)
    await admission.start()
    limit = budget("key:k1", 10_000, rpm=30)
    results: list[AdmissionResult] = []

    async def admit_concurrently() -> None:
        results.extend(await asyncio.gather(*(admission.admit(plan(limit, cost=1_000), NOW)
                                              for _ in range(40))))

    commands = await _commands_sent(raw_redis, namespace, admit_concurrently())
    assert commands == ["EVALSHA"]  # 40 admissions, one round trip
    allowed = [r for r in results if r.is_allowed]
    assert len(allowed) == 10  # the budget holds exactly ten
    # Calls ran in submission order, each seeing the ones before it: the first ten were admitted
    # with 29, 28, ... requests left, and everything after them was refused for the budget.
    assert [r.rate.remaining_requests for r in results[:10]] == list(range(29, 19, -1))
    assert all(not r.is_allowed for r in results[10:])
    await admission.aclose()


async def test_admission_reloads_its_scripts_after_a_script_flush(
    redis_url: str, namespace: str, raw_redis: redis_asyncio.Redis
) -> None:
    admission = RedisAdmission(redis_url, namespace)
    await admission.start()
    limit = budget("key:k1", 10_000, rpm=10)
    first = await admission.admit(plan(limit, cost=1_000), NOW)
    await raw_redis.script_flush()
    second = await admission.admit(plan(limit, cost=1_000), NOW)
    assert first.is_allowed and second.is_allowed
    assert second.rate.remaining_requests == 8  # both ran: the second after a reload
    assert not admission.is_degraded  # NOSCRIPT is not an outage
    await admission.aclose()


async def test_closed_port_fails_closed_with_503() -> None:
    admission = RedisAdmission(f"redis://127.0.0.1:{_free_port()}/0", "x", failure_policy="closed")
    assert not admission.is_degraded
    result = await admission.admit(plan(Limit("key:k1", rpm=100)), NOW)
    assert result.refusal is not None and result.refusal.kind is RefusalKind.UNAVAILABLE
    assert admission.is_degraded
    error = result.to_error()
    assert isinstance(error, ServiceUnavailable)
    assert (error.status, error.headers["Retry-After"]) == (503, "1")
    again = await admission.admit(plan(), NOW)
    assert again.refusal is not None and again.refusal.kind is RefusalKind.UNAVAILABLE
    with pytest.raises(ServiceUnavailable):
        await admission.budget_spend("key:k1", NOW)
    with pytest.raises(ServiceUnavailable):
        await admission.seed_spend("key:k1", NOW, 1)
    await admission.aclose()


async def test_closed_port_fails_open_to_local_limits() -> None:
    admission = RedisAdmission(
        f"redis://127.0.0.1:{_free_port()}/0", "x", failure_policy=FailurePolicy.OPEN
    )
    limit = Limit("key:k1", rpm=2, max_parallel=5)
    results = [await admission.admit(plan(limit), NOW) for _ in range(3)]
    assert admission.is_degraded
    assert [r.is_allowed for r in results] == [True, True, False]
    refusal = results[2].refusal
    assert refusal is not None and refusal.kind is RefusalKind.RPM
    first = results[0].reservation
    assert first is not None and first.is_local
    await admission.settle(first, 10, 10, NOW)
    assert admission.pending_settles == 0  # local reservations settle locally
    await admission.aclose()


class _RedisProcess:
    """A redis-server of our own on a free port, which a test may stop and start again."""

    def __init__(self, binary: str) -> None:
        self.port = _free_port()
        self.url = f"redis://127.0.0.1:{self.port}/0"
        self.args = [binary, "--port", str(self.port), "--bind", "127.0.0.1"]
        self.args += ["--save", "", "--appendonly", "no"]
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        self.process = subprocess.Popen(self.args, stdout=subprocess.DEVNULL)
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            try:
                socket.create_connection(("127.0.0.1", self.port), 0.2).close()
                return
            except OSError:
                time.sleep(0.02)
        raise RuntimeError("private redis-server did not start")

    def stop(self) -> None:
        if self.process is not None:
            self.process.terminate()
            self.process.wait(10)
            self.process = None


@pytest.fixture
def private_redis() -> Iterator[_RedisProcess]:
    binary = shutil.which("redis-server")
    if binary is None:
        pytest.skip("redis-server is not installed")
    server = _RedisProcess(binary)
    server.start()
    yield server
    server.stop()


async def test_outage_then_recovery_replays_deferred_settlements(
    private_redis: _RedisProcess,
) -> None:
    clock = _Clock()
    admission = RedisAdmission(private_redis.url, "p", probe_interval_s=1.0, clock=clock)
    limit = budget("key:k1", 10_000)
    start = limit.budget_window_start(NOW)
    result = await admission.admit(plan(limit, cost=3_000), NOW)
    assert result.reservation is not None and not result.reservation.is_local

    private_redis.stop()
    await admission.settle(result.reservation, 2_000, 0, NOW)
    assert admission.is_degraded and admission.pending_settles == 1
    refused = await admission.admit(plan(limit, cost=1), NOW)
    assert refused.refusal is not None and refused.refusal.kind is RefusalKind.UNAVAILABLE

    private_redis.start()  # empty: it kept nothing (no persistence)
    skipped = await admission.admit(plan(limit, cost=1), NOW)  # still inside the probe interval
    assert skipped.refusal is not None and skipped.refusal.kind is RefusalKind.UNAVAILABLE
    clock.now += 1.5
    admitted = await admission.admit(plan(limit, cost=1_000), NOW)
    assert admitted.is_allowed and not admission.is_degraded
    for _ in range(500):  # the replay runs in the background; bounded wait
        if admission.pending_settles == 0:
            break
        await asyncio.sleep(0.01)
    spend = await admission.budget_spend("key:k1", start)
    assert (spend.spent_micros, spend.reserved_micros) == (2_000, 1_000)
    await admission.aclose()


async def test_cancelled_admission_gives_back_what_the_script_reserved(
    redis_url: str, namespace: str, raw_redis: redis_asyncio.Redis
) -> None:
    admission = RedisAdmission(redis_url, namespace)
    await admission.start()
    limit = budget("key:k1", 1_000, rpm=10, max_parallel=1)
    start = limit.budget_window_start(NOW)
    task = asyncio.create_task(admission.admit(plan(limit, cost=1_000), NOW))
    await asyncio.sleep(0)  # the script call is on its way
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    for _ in range(500):  # the orphan release runs in the background; bounded wait
        spend = await admission.budget_spend("key:k1", start)
        if spend.reserved_micros == 0 and not admission._orphans:
            break
        await asyncio.sleep(0.01)
    assert (spend.spent_micros, spend.reserved_micros) == (0, 0)
    after = await admission.admit(plan(limit, cost=1_000), NOW)
    assert after.is_allowed  # budget and parallel slot came back
    assert after.rate.remaining_requests == 8  # the script did run: the request counted
    await admission.aclose()


async def test_start_checks_redis_and_names_it_without_credentials(redis_url: str) -> None:
    ok = RedisAdmission(redis_url, "x")
    await ok.start()
    await ok.aclose()
    port = _free_port()
    broken = RedisAdmission(f"redis://user:s3cret@127.0.0.1:{port}/0", "x")
    with pytest.raises(ServiceUnavailable) as raised:
        await broken.start()
    assert f"127.0.0.1:{port}" in raised.value.message
    assert "s3cret" not in raised.value.message
    await broken.aclose()
