"""Live stats shared by every ingress instance through Redis (distributed mode).

The hot path never waits for Redis. ``record_start``/``record_end`` update local state and a
pending batch; a background task runs one *tick* every ``refresh_interval_s`` (100 ms): a single
``EVALSHA`` that applies the batch and reads the shared view back (see ``redis_tick``). The local
snapshot is that view plus what this instance recorded since, so it is never more than one tick
plus one round trip old (the contract is 250 ms), and this instance's own in-flight counts are
always exact.

- In flight: each instance writes its absolute counts into its own hash with a safety TTL
  (``inflight_ttl_s``), rewritten every tick; a crashed instance's counts expire with it.
- Cooldowns: ``set_cooldown``/``clear_cooldown`` write through at once (one ``HSET``/``HDEL``,
  never during a tick), and hold locally until the next tick has read them back.
- Round robin: ``next_round_robin`` is one ``HINCRBY`` on a counter every instance shares.
- Redis down: nothing raises. The snapshot keeps the last view (``is_stale`` is True), round robin
  falls back to a local counter, cooldowns are retried with the next tick, and a failed tick's
  counters are dropped (stats are a routing hint, not an account). ``start()`` alone fails loudly,
  so a distributed deployment without Redis is a startup error naming Redis.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import math
import time
import uuid
from collections.abc import Callable
from types import MappingProxyType
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from redis.asyncio import BlockingConnectionPool, Redis
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff
from redis.exceptions import RedisError

from router_engine.stats.base import (
    Cooldown,
    DeploymentStats,
    Outcome,
    StatsSnapshot,
    StatsStore,
    classify_outcome,
)
from router_engine.stats.memory import DEFAULT_EWMA_ALPHA, DEFAULT_WINDOW_S
from router_engine.stats.redis_tick import (
    TICK_LUA,
    PendingBatch,
    RemoteView,
    encode_cooldown,
)
from router_engine.stats.snapshot_cache import SnapshotCache
from schemas.errors import ServiceUnavailable

__all__ = ["RedisStatsStore"]

_log = logging.getLogger(__name__)

_BACKEND_ERRORS = (RedisError, OSError, asyncio.TimeoutError, ValueError)
"""What a Redis call raises when Redis is down, slow or answers garbage (ValueError: bad JSON)."""

_BUCKETS = 12


def _redacted(url: str) -> str:
    parts = urlsplit(url)
    host = parts.hostname or ""
    netloc = f"{host}:{parts.port}" if parts.port else host
    return urlunsplit((parts.scheme, netloc, parts.path, "", ""))


class _CooldownWrite:
    """One cooldown change, held locally until Redis is known to show it."""

    __slots__ = ("is_delivered", "value")

    def __init__(self, value: Cooldown | None) -> None:
        self.value = value
        self.is_delivered = False


class RedisStatsStore(StatsStore):
    """Stats shared through Redis, read from a local snapshot refreshed in the background.

    Args:
        redis_url: ``redis://[user:pass@]host:port/db``.
        key_prefix: prefix of every key (``RedisConfig.key_prefix``).
        instance_id: this process's id in Redis; a fresh random one by default.
        refresh_interval_s: time between two ticks.
        max_staleness_s: older than this, the snapshot says ``is_stale``.
        inflight_ttl_s: how long a silent instance's in-flight counts survive it.
        window_s: length of the health window.
        ewma_alpha: weight of the newest latency sample.
        socket_timeout_s: limit on one Redis round trip.
        clock: wall-clock seconds (``time.time``); tests pass their own.
    """

    def __init__(
        self,
        redis_url: str,
        key_prefix: str = "llmux:",
        *,
        instance_id: str | None = None,
        refresh_interval_s: float = 0.1,
        max_staleness_s: float = 0.25,
        inflight_ttl_s: float = 10.0,
        window_s: float = DEFAULT_WINDOW_S,
        ewma_alpha: float = DEFAULT_EWMA_ALPHA,
        socket_timeout_s: float = 0.5,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._url = redis_url
        self._prefix = f"{key_prefix}{{stats}}:"
        self.instance_id = instance_id or uuid.uuid4().hex
        self._interval_s = refresh_interval_s
        self._max_staleness_s = max_staleness_s
        self._inflight_ttl_ms = max(1, int(inflight_ttl_s * 1000))
        self._bucket_s = window_s / _BUCKETS
        self._alpha = ewma_alpha
        self._clock = clock
        # PERF: a blocking pool waits for a free connection instead of raising at 100 in flight
        # (redis-py 8.1 default pool, see notes/stack.md §7); the hot path needs few connections.
        self._pool = BlockingConnectionPool.from_url(
            redis_url,
            max_connections=8,
            timeout=socket_timeout_s,
            socket_timeout=socket_timeout_s,
            socket_connect_timeout=socket_timeout_s,
            retry=Retry(NoBackoff(), 1),
        )
        self._redis = Redis(connection_pool=self._pool, retry=Retry(NoBackoff(), 1))
        self._tick_script = self._redis.register_script(TICK_LUA)
        self._tick_lock = asyncio.Lock()
        self._task: asyncio.Task[None] | None = None
        self._in_flight: dict[str, int] = {}
        self._pending = PendingBatch()
        self._in_transit: PendingBatch | None = None
        self._remote = RemoteView()
        self._writes: dict[str, _CooldownWrite] = {}
        self._unsent: dict[str, _CooldownWrite] = {}
        self._local_round_robin: dict[str, int] = {}
        self._last_ok_s = -math.inf
        self.is_degraded = False
        """True while Redis is unreachable (the snapshot says ``is_stale`` too)."""
        self.failed_ticks = 0
        self._cache = SnapshotCache()

    # ----------------------------------------------------------------- lifecycle

    async def start(self) -> None:
        try:
            await self._redis.ping()
        except _BACKEND_ERRORS as exc:
            raise ServiceUnavailable(
                f"Redis at {_redacted(self._url)} is unreachable (live routing stats): "
                f"{type(exc).__name__}"
            ) from exc
        await self.refresh()
        self._task = asyncio.get_running_loop().create_task(self._run(), name="stats-refresh")

    async def aclose(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
        with contextlib.suppress(*_BACKEND_ERRORS):
            await self._redis.delete(f"{self._prefix}inflight:{self.instance_id}")
        await self._redis.aclose()
        await self._pool.aclose()

    async def _run(self) -> None:
        loop = asyncio.get_running_loop()
        task = asyncio.current_task()
        while True:
            started = loop.time()
            try:
                await self.refresh()
            except Exception:  # NOTE: a bug must not stop stats for good; counted and logged.
                self.failed_ticks += 1
                _log.exception("stats refresh failed")
            if task is not None and task.cancelling():
                # NOTE: Python 3.11's asyncio.wait_for (redis-py writes commands through it)
                # returns normally when the write finishes in the same loop iteration as a
                # cancel: the cancel is lost, and without this check aclose() waited forever.
                raise asyncio.CancelledError
            await asyncio.sleep(max(0.0, self._interval_s - (loop.time() - started)))

    # ----------------------------------------------------------------- hot path

    def snapshot(self) -> StatsSnapshot:
        now = self._clock()
        # PERF: as in MemoryStatsStore, only the deployment an event touched is rebuilt.
        cached = self._cache.current(now)
        if cached is not None:
            return cached
        minute = math.floor(now / 60)
        batches = [b for b in (self._in_transit, self._pending) if b is not None]
        is_stale = self.is_degraded or now - self._last_ok_s > self._max_staleness_s
        valid_until = (minute + 1) * 60.0
        if not is_stale:
            valid_until = min(valid_until, self._last_ok_s + self._max_staleness_s)
        return self._cache.rebuild(
            now_s=now,
            all_ids=lambda: self._known_ids(batches),
            freeze=lambda dep: self._stats_of(dep, minute, batches),
            round_robin=self._round_robin_view,
            is_stale=is_stale,
            valid_until_s=valid_until,
        )

    def _known_ids(self, batches: list[PendingBatch]) -> set[str]:
        ids = self._remote.deployment_ids() | self._in_flight.keys() | self._writes.keys()
        for batch in batches:
            ids |= batch.deployment_ids()
        return ids

    def _stats_of(self, dep: str, minute: int, batches: list[PendingBatch]) -> DeploymentStats:
        remote = self._remote
        if remote.minute == minute:
            requests = remote.minute_requests.get(dep, 0)
            tokens = remote.minute_tokens.get(dep, 0)
        else:
            requests = tokens = 0
        successes = remote.successes.get(dep, 0)
        failures = remote.failures.get(dep, 0)
        for batch in batches:
            more_requests, more_tokens, more_successes, more_failures = batch.counts(minute, dep)
            requests += more_requests
            tokens += more_tokens
            successes += more_successes
            failures += more_failures
        # PERF: positional, in field order (see MemoryStatsStore's freeze).
        return DeploymentStats(
            remote.inflight_others.get(dep, 0) + self._in_flight.get(dep, 0),
            remote.latency.get(dep),
            remote.ttft.get(dep),
            successes,
            failures,
            requests,
            tokens,
            self.cooldown_of(dep),
        )

    def cooldown_of(self, deployment_id: str) -> Cooldown | None:
        write = self._writes.get(deployment_id)
        return write.value if write is not None else self._remote.cooldowns.get(deployment_id)

    def _round_robin_view(self) -> MappingProxyType[str, int]:
        merged = dict(self._remote.round_robin)
        for group, local in self._local_round_robin.items():
            merged[group] = max(local, merged.get(group, 0))
        return MappingProxyType(merged)

    def record_start(self, deployment_id: str) -> None:
        self._in_flight[deployment_id] = self._in_flight.get(deployment_id, 0) + 1
        self._pending.add_minute(math.floor(self._clock() / 60), deployment_id, 1, 0)
        self._cache.touch(deployment_id)

    def record_end(
        self,
        deployment_id: str,
        *,
        latency_ms: float,
        ttft_ms: float | None,
        ok: bool,
        tokens: int,
        status: int | None,
    ) -> None:
        now = self._clock()
        left = self._in_flight.get(deployment_id, 0) - 1
        if left > 0:
            self._in_flight[deployment_id] = left
        else:
            self._in_flight.pop(deployment_id, None)
        pending = self._pending
        pending.add_minute(math.floor(now / 60), deployment_id, 0, max(0, tokens))
        outcome = classify_outcome(ok, status)
        bucket = math.floor(now / self._bucket_s)
        if outcome is Outcome.SUCCESS:
            pending.add_outcome(bucket, deployment_id, 1, 0)
            pending.add_sample("lat", deployment_id, latency_ms)
            if ttft_ms is not None:
                pending.add_sample("ttft", deployment_id, ttft_ms)
        elif outcome is Outcome.FAILURE:
            pending.add_outcome(bucket, deployment_id, 0, 1)
        self._cache.touch(deployment_id)

    # ----------------------------------------------------------------- shared, one round trip

    async def next_round_robin(self, group: str) -> int:
        if not self.is_degraded:
            try:
                ticket = int(await self._redis.hincrby(f"{self._prefix}rr", group, 1))
            except _BACKEND_ERRORS as exc:
                self._mark_degraded(exc)
            else:
                self._local_round_robin[group] = ticket
                self._cache.touch_view()
                return ticket
        # NOTE: Redis down: rotate locally from the last shared value; rotation stays fair per
        # instance, only the global interleaving is lost until Redis is back.
        ticket = max(self._local_round_robin.get(group, 0), self._remote.round_robin.get(group, 0))
        self._local_round_robin[group] = ticket + 1
        self._cache.touch_view()
        return ticket + 1

    async def set_cooldown(self, deployment_id: str, *, until_s: float, reason: str) -> None:
        await self._write_cooldown(deployment_id, Cooldown(until_s=until_s, reason=reason))

    async def clear_cooldown(self, deployment_id: str) -> None:
        await self._write_cooldown(deployment_id, None)

    async def _write_cooldown(self, deployment_id: str, value: Cooldown | None) -> None:
        write = _CooldownWrite(value)
        self._writes[deployment_id] = write
        self._unsent.pop(deployment_id, None)
        self._cache.touch(deployment_id)
        key = f"{self._prefix}cooldown"
        # NOTE: never while a tick runs: a tick that read Redis before this write landed would
        # otherwise drop the local copy and show the old entry until the next tick.
        async with self._tick_lock:
            try:
                if value is None:
                    await self._redis.hdel(key, deployment_id)
                else:
                    await self._redis.hset(key, deployment_id, encode_cooldown(value))
            except _BACKEND_ERRORS as exc:
                self._mark_degraded(exc)
                if self._writes.get(deployment_id) is write:
                    self._unsent[deployment_id] = write  # the next tick delivers it
                return
            write.is_delivered = True

    # ----------------------------------------------------------------- the tick

    async def refresh(self) -> None:
        async with self._tick_lock:
            await self._tick()

    async def _tick(self) -> None:
        batch, self._pending = self._pending, PendingBatch()
        self._in_transit = batch
        unsent = dict(self._unsent)
        now = self._clock()
        minute = math.floor(now / 60)
        try:
            raw = await self._tick_script(
                keys=[self._prefix], args=[self._payload(batch, unsent, now, minute)]
            )
            remote = RemoteView.decode(raw, minute)
        except _BACKEND_ERRORS as exc:
            self._mark_degraded(exc)
            return
        finally:
            self._in_transit = None
            self._cache.touch_all()
        self._remote = remote
        for dep, write in unsent.items():
            if self._unsent.get(dep) is write:
                del self._unsent[dep]
                write.is_delivered = True
        # the view just read shows every delivered write: the local copies have served their turn
        self._writes = {d: w for d, w in self._writes.items() if not w.is_delivered}
        self._last_ok_s = now
        if self.is_degraded:
            _log.warning("Redis is reachable again; live routing stats are shared again")
        self.is_degraded = False

    def _payload(
        self, batch: PendingBatch, unsent: dict[str, _CooldownWrite], now: float, minute: int
    ) -> str:
        current = math.floor(now / self._bucket_s)
        body: dict[str, Any] = batch.to_wire()
        body.update(
            instance=self.instance_id,
            inflight=self._in_flight,
            inflight_ttl_ms=self._inflight_ttl_ms,
            bucket_ttl_s=math.ceil(self._bucket_s * (_BUCKETS + 1)),
            alpha=self._alpha,
            cooldown_set={d: encode_cooldown(w.value) for d, w in unsent.items() if w.value},
            cooldown_clear=[d for d, w in unsent.items() if w.value is None],
            read_minute=str(minute),
            read_buckets=[str(b) for b in range(current - _BUCKETS + 1, current + 1)],
        )
        return json.dumps(body)

    def _mark_degraded(self, exc: BaseException) -> None:
        if not self.is_degraded:
            _log.warning(
                "Redis at %s unreachable (%s); routing on the last stats snapshot",
                _redacted(self._url),
                type(exc).__name__,
            )
        self.is_degraded = True
        self._cache.touch_all()
