"""RedisStatsStore: the shared contract on the real Redis, plus what only a shared store must do.

Every test uses its own key prefix (``namespace``) and deletes its keys afterwards. Outage and
command-count tests run against a private ``redis-server`` they start and stop themselves.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
import subprocess
import time
from collections.abc import AsyncIterator, Iterator

import pytest
from redis.asyncio import Redis

from router_engine.stats import RedisStatsStore
from schemas.errors import ServiceUnavailable
from tests.router_engine.stats.contract import T0, FakeClock, Pair, StatsStoreContract, X, Y

pytestmark = pytest.mark.services


async def _drop_keys(redis_url: str, prefix: str) -> None:
    client = Redis.from_url(redis_url)
    try:
        keys = [key async for key in client.scan_iter(match=f"{prefix}*", count=500)]
        if keys:
            await client.delete(*keys)
    finally:
        await client.aclose()


@pytest.fixture
async def prefix(redis_url: str, namespace: str) -> AsyncIterator[str]:
    yield f"{namespace}:"
    await _drop_keys(redis_url, f"{namespace}:")


async def _poll(condition, timeout_s: float = 5.0, step_s: float = 0.02) -> bool:
    """Await ``condition()`` (an async or plain callable) until true or ``timeout_s`` passes."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        result = condition()
        if asyncio.iscoroutine(result):
            result = await result
        if result:
            return True
        await asyncio.sleep(step_s)
    return False


class TestRedisStatsStore(StatsStoreContract):
    @pytest.fixture
    def clock(self) -> FakeClock:
        return FakeClock()

    @pytest.fixture
    async def pair(self, redis_url: str, prefix: str, clock: FakeClock) -> AsyncIterator[Pair]:
        a = RedisStatsStore(redis_url, prefix, instance_id="a", clock=clock)
        b = RedisStatsStore(redis_url, prefix, instance_id="b", clock=clock)
        yield a, b
        await a.aclose()
        await b.aclose()


async def test_crashed_instance_in_flight_expires(redis_url: str, prefix: str) -> None:
    clock = FakeClock()
    crashed = RedisStatsStore(
        redis_url, prefix, instance_id="gone", inflight_ttl_s=0.3, clock=clock
    )
    alive = RedisStatsStore(redis_url, prefix, instance_id="alive", clock=clock)
    try:
        crashed.record_start(X)
        await crashed.refresh()
        await alive.refresh()
        assert alive.snapshot().get(X).in_flight == 1
        # `crashed` never writes again: its counts must disappear with the safety TTL
        async def gone() -> bool:
            await alive.refresh()
            return alive.snapshot().get(X).in_flight == 0

        assert await _poll(gone)
        client = Redis.from_url(redis_url, decode_responses=True)
        assert await client.smembers(f"{prefix}{{stats}}:instances") == set()
        await client.aclose()
    finally:
        await alive.aclose()
        await crashed.aclose()


async def test_background_refresh_shares_without_manual_refresh(
    redis_url: str, prefix: str
) -> None:
    a = RedisStatsStore(redis_url, prefix, instance_id="a")
    b = RedisStatsStore(redis_url, prefix, instance_id="b")
    await a.start()
    await b.start()
    try:
        a.record_start(X)
        await a.set_cooldown(Y, until_s=time.time() + 60, reason="admin")
        assert await _poll(lambda: b.snapshot().get(X).in_flight == 1)
        assert await _poll(lambda: b.snapshot().get(Y).cooldown is not None)
        assert not b.snapshot().is_stale
    finally:
        await a.aclose()  # a clean shutdown takes its in-flight counts with it
    assert await _poll(lambda: b.snapshot().get(X).in_flight == 0)
    await b.aclose()


async def test_aclose_stops_the_refresh_task_even_when_a_tick_loses_the_cancel(
    redis_url: str, prefix: str
) -> None:
    # Python 3.11's asyncio.wait_for, which redis-py writes commands through, can swallow a
    # cancel that arrives as the write completes; the tick then returns as if nothing happened.
    store = RedisStatsStore(redis_url, prefix, instance_id="a", refresh_interval_s=0.01)
    await store.start()
    ticks: list[bool] = []
    lost: list[bool] = []

    async def tick_losing_the_first_cancel() -> None:
        ticks.append(True)
        try:
            await asyncio.sleep(0.2)  # long enough for aclose to cancel it mid-tick
        except asyncio.CancelledError:
            if lost:
                raise
            lost.append(True)

    store.refresh = tick_losing_the_first_cancel  # type: ignore[method-assign]
    assert await _poll(lambda: bool(ticks))
    closing = asyncio.ensure_future(store.aclose())
    await asyncio.wait({closing}, timeout=2)  # NOTE: not wait_for: its cancel would retry ours
    assert lost
    assert closing.done()


async def test_start_names_redis_and_hides_the_password() -> None:
    port = _free_port()
    store = RedisStatsStore(f"redis://user:s3cret@127.0.0.1:{port}/0", "x:")
    with pytest.raises(ServiceUnavailable) as caught:
        await store.start()
    assert "Redis" in caught.value.message
    assert f"127.0.0.1:{port}" in caught.value.message
    assert "s3cret" not in caught.value.message
    await store.aclose()


# -- a private redis-server, for outages and command counts ----------------------------------------


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class PrivateRedis:
    def __init__(self) -> None:
        self.port = _free_port()
        self.url = f"redis://127.0.0.1:{self.port}/0"
        self._process: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        self._process = subprocess.Popen(
            ["redis-server", "--port", str(self.port), "--bind", "127.0.0.1", "--save", "",
             "--appendonly", "no"],
            stdout=subprocess.DEVNULL,
        )  # fmt: skip
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", self.port)):
                return
            time.sleep(0.02)
        raise RuntimeError("private redis-server did not start")

    def stop(self) -> None:
        if self._process is not None:
            self._process.terminate()
            self._process.wait(timeout=10)
            self._process = None


@pytest.fixture
def private_redis() -> Iterator[PrivateRedis]:
    server = PrivateRedis()
    server.start()
    yield server
    server.stop()


_RUN_BY_THE_SCRIPT = {
    f"cmdstat_{name}"
    for name in ("del", "hset", "pexpire", "sadd", "hincrby", "expire", "hget", "hgetall",
                 "smembers", "srem", "hdel")
}  # fmt: skip


def _commands(commandstats: dict[str, dict[str, int]]) -> dict[str, int]:
    """Calls per command, leaving out the test's own CONFIG and INFO."""
    ours = ("cmdstat_config", "cmdstat_info")
    return {k: v["calls"] for k, v in commandstats.items() if not k.startswith(ours)}


async def test_hot_path_sends_nothing_and_a_tick_is_one_evalsha(
    private_redis: PrivateRedis,
) -> None:
    store = RedisStatsStore(private_redis.url, "c:", clock=FakeClock())
    client = Redis.from_url(private_redis.url, decode_responses=True)
    try:
        await store.refresh()  # loads the script
        await client.config_resetstat()
        for i in range(200):
            store.record_start(X)
            store.record_end(X, latency_ms=10.0, ttft_ms=None, ok=i % 3 > 0, tokens=5, status=500)
        assert _commands(await client.info("commandstats")) == {}
        await store.refresh()
        commands = _commands(await client.info("commandstats"))
        # NOTE: commandstats also counts what the script itself runs; those are not round trips.
        assert commands.pop("cmdstat_evalsha") == 1
        assert set(commands) <= _RUN_BY_THE_SCRIPT
        view = store.snapshot().get(X)
        assert (view.minute_requests, view.minute_tokens, view.in_flight) == (200, 1000, 0)
        assert (view.successes, view.failures) == (133, 67)
    finally:
        await client.aclose()
        await store.aclose()


async def test_redis_outage_degrades_then_recovers(private_redis: PrivateRedis) -> None:
    clock = FakeClock()
    a = RedisStatsStore(private_redis.url, "o:", instance_id="a", clock=clock)
    b = RedisStatsStore(private_redis.url, "o:", instance_id="b", clock=clock)
    try:
        await a.start()
        a.record_start(X)
        assert await a.next_round_robin("g") == 1
        await a.refresh()
        private_redis.stop()

        a.record_start(Y)  # the hot path never notices
        await a.refresh()
        view = a.snapshot()
        assert a.is_degraded and view.is_stale
        assert (view.get(X).in_flight, view.get(Y).in_flight) == (1, 1)
        assert [await a.next_round_robin("g") for _ in range(3)] == [2, 3, 4]
        await a.set_cooldown(X, until_s=T0 + 30, reason="while down")
        assert a.snapshot().get(X).cooldown is not None

        private_redis.start()  # an empty Redis on the same port
        await a.refresh()
        assert not a.is_degraded and not a.snapshot().is_stale
        await b.refresh()
        shared = b.snapshot()
        assert (shared.get(X).in_flight, shared.get(Y).in_flight) == (1, 1)
        cooldown = shared.get(X).cooldown
        assert cooldown is not None and cooldown.reason == "while down"
        assert await b.next_round_robin("g") == 1  # shared again (the new Redis starts at 0)
        await b.clear_cooldown(X)  # a's delivered copy must not outlive a change made elsewhere
        await b.refresh()
        await a.refresh()
        assert a.snapshot().get(X).cooldown is None
    finally:
        await a.aclose()
        await b.aclose()
