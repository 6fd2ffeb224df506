"""Distributed admission: every instance shares its counters in Redis, one script call per request.

Redis is the one place where limits are shared, so it is also the one place that can be missing.
This adapter is the boundary for that: redis-py exceptions stop here. While Redis is unreachable
the configured :class:`FailurePolicy` applies and :attr:`RedisAdmission.is_degraded` is true
(``/health/ready`` and the metrics read it):

- ``closed``: refuse every request with a 503 (``RefusalKind.UNAVAILABLE``);
- ``open``: admit against a local :class:`MemoryAdmission`, i.e. each instance enforces the
  limits on its own (so N instances together allow up to N times a limit).

After a failure Redis is left alone for ``probe_interval_s``; then the next request tries it
again. Settlements that could not reach Redis are queued (bounded) and replayed on recovery.
"""

from __future__ import annotations

import asyncio
import collections
import logging
import time
from collections.abc import Callable
from datetime import datetime
from urllib.parse import urlparse

from redis.asyncio import BlockingConnectionPool, Redis
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff
from redis.exceptions import RedisError

from ingress.admission.base import DEFAULT_LEASE_S, Admission
from ingress.admission.limits import AdmissionRequest
from ingress.admission.memory import MemoryAdmission
from ingress.admission.outage import FailurePolicy, Outage
from ingress.admission.redis_batch import ScriptBatcher
from ingress.admission.redis_lua import ADMIT_LUA, SEED_LUA, SETTLE_LUA
from ingress.admission.redis_scripts import (
    Arguments,
    admit_arguments,
    budget_key,
    decode_admit,
    seed_arguments,
    settle_arguments,
)
from ingress.admission.report import admitted, refusal_for, refused
from ingress.admission.result import (
    AdmissionResult,
    BudgetSpend,
    Refusal,
    RefusalKind,
    Reservation,
)
from schemas.errors import ServiceUnavailable
from schemas.ids import random_hex_id

__all__ = ["RedisAdmission"]

_log = logging.getLogger(__name__)


class RedisAdmission(Admission):
    """Admission shared by every ingress instance through Redis (distributed mode).

    Args:
        redis_url: ``redis://host:port/db`` (credentials allowed; never logged).
        key_prefix: namespace of every key (a Redis Cluster hash tag, so one slot).
        failure_policy: ``closed`` (refuse with 503) or ``open`` (local limits) when Redis fails.
        lease_s: how long an unsettled reservation holds its parallel slot and budget.
        max_connections: size of the blocking connection pool.
        pool_timeout_s: how long a request waits for a free pooled connection.
        socket_timeout_s: per-command timeout (a script call is one command).
        connect_timeout_s: TCP connect timeout.
        probe_interval_s: after a failure, how long to skip Redis before trying again.
        max_pending_settles: settlements kept for replay while Redis is down (oldest dropped).
        clock: monotonic clock for the probe interval (injectable for tests).
    """

    def __init__(
        self,
        redis_url: str,
        key_prefix: str = "llmux",
        *,
        failure_policy: FailurePolicy | str = FailurePolicy.CLOSED,
        lease_s: float = DEFAULT_LEASE_S,
        max_connections: int = 64,
        pool_timeout_s: float = 1.0,
        socket_timeout_s: float = 1.0,
        connect_timeout_s: float = 0.5,
        probe_interval_s: float = 1.0,
        max_pending_settles: int = 10_000,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if not key_prefix or "{" in key_prefix or "}" in key_prefix:
            raise ValueError("key_prefix must be non-empty and free of braces (it is a hash tag)")
        self._prefix = key_prefix
        parsed = urlparse(redis_url)
        self._where = f"{parsed.hostname}:{parsed.port or 6379}"  # never the password
        self._policy = FailurePolicy(failure_policy)
        self._lease_ms = int(lease_s * 1000)
        self._probe_interval_s = probe_interval_s
        # NOTE: no retries: a script that timed out may have run, and running it twice would
        # double-reserve. A lost reply leaks only until its leases and windows expire.
        pool = BlockingConnectionPool.from_url(
            redis_url,
            max_connections=max_connections,
            timeout=pool_timeout_s,
            socket_timeout=socket_timeout_s,
            socket_connect_timeout=connect_timeout_s,
            retry=Retry(NoBackoff(), 0),
        )
        self._redis = Redis(connection_pool=pool)
        # PERF: admissions and settlements of one loop iteration share one EVALSHA each.
        self._admit_batch = ScriptBatcher(self._redis, ADMIT_LUA)
        self._settle_batch = ScriptBatcher(self._redis, SETTLE_LUA)
        self._seed_script = self._redis.register_script(SEED_LUA)
        self._local = MemoryAdmission(lease_s=lease_s)
        self._outage = Outage(probe_interval_s, clock)
        self._pending: collections.deque[Arguments] = collections.deque()
        self._max_pending = max_pending_settles
        self._flush_task: asyncio.Task[None] | None = None
        self._orphans: set[asyncio.Task[None]] = set()
        self.dropped_settles = 0
        """Settlements lost because Redis stayed down longer than the pending queue lasts."""

    @property
    def is_degraded(self) -> bool:
        return self._outage.is_degraded

    @property
    def failure_policy(self) -> FailurePolicy:
        return self._policy

    @property
    def failure_count(self) -> int:
        """Redis calls that failed since start (a counter for the metrics)."""
        return self._outage.failures

    @property
    def pending_settles(self) -> int:
        """Settlements waiting for Redis to come back."""
        return len(self._pending)

    async def admit(self, request: AdmissionRequest, now: datetime) -> AdmissionResult:
        if self._outage.should_skip_store():
            return await self._degraded_admit(request, now)
        reservation = Reservation(random_hex_id(), request, now, is_local=False)
        keys, args = admit_arguments(self._prefix, request, reservation.id, now, self._lease_ms)
        try:
            reply = await self._run_admit_script(keys, args, reservation)
        except RedisError as exc:
            self._failed(exc)
            return await self._degraded_admit(request, now)
        self._succeeded()
        decoded = decode_admit(reply, len(request.limits))
        if decoded.refused_kind is None:
            return admitted(reservation, decoded.counts, now)
        limit = request.limits[decoded.refused_index - 1]
        refusal = refusal_for(limit, decoded.refused_kind, now)
        return refused(request, refusal, decoded.counts, now)

    async def settle(
        self,
        reservation: Reservation,
        actual_cost_micros: int,
        actual_tokens: int,
        now: datetime,
    ) -> None:
        if reservation.is_local:
            await self._local.settle(reservation, actual_cost_micros, actual_tokens, now)
            return
        pending = self.settle_soon(reservation, actual_cost_micros, actual_tokens, now)
        if pending is not None:
            await asyncio.wait([pending])

    def settle_soon(
        self,
        reservation: Reservation,
        actual_cost_micros: int,
        actual_tokens: int,
        now: datetime,
    ) -> asyncio.Future[object] | None:
        # PERF: the settlement joins this iteration's batch directly: no coroutine, no task.
        if reservation.is_local:
            return super().settle_soon(reservation, actual_cost_micros, actual_tokens, now)
        if not reservation.close():
            return None
        call = settle_arguments(self._prefix, reservation, actual_cost_micros, actual_tokens, now)
        return self._settle_or_defer(call)

    async def release(self, reservation: Reservation) -> None:
        if reservation.is_local:
            await self._local.release(reservation)
        elif reservation.close():
            call = settle_arguments(self._prefix, reservation, 0, 0, reservation.admitted_at)
            pending = self._settle_or_defer(call)
            if pending is not None:
                await asyncio.wait([pending])

    async def seed_spend(self, scope: str, window_start: datetime, spent_micros: int) -> None:
        """Seed Redis and the local fallback alike, so failing open still knows history.

        Raises:
            ServiceUnavailable: Redis is unreachable.
        """
        await self._local.seed_spend(scope, window_start, spent_micros)
        keys, args = seed_arguments(self._prefix, scope, window_start, spent_micros)
        try:
            await self._seed_script(keys=keys, args=args)
        except RedisError as exc:
            raise ServiceUnavailable("Redis is unreachable; budget spend was not seeded") from exc

    async def budget_spend(self, scope: str, window_start: datetime) -> BudgetSpend:
        """Read one budget window from Redis.

        Raises:
            ServiceUnavailable: Redis is unreachable.
        """
        key = budget_key(self._prefix, scope, window_start)
        try:
            spent, reserved = await self._redis.hmget(key, ["spent", "reserved"])
        except RedisError as exc:
            raise ServiceUnavailable("Redis is unreachable; budget spend is unknown") from exc
        return BudgetSpend(int(spent or 0), int(reserved or 0))

    async def start(self) -> None:
        """Ping Redis and load the scripts, so a wrong URL is a startup error naming Redis.

        Raises:
            ServiceUnavailable: Redis does not answer.
        """
        try:
            await self._redis.ping()
            sources = (self._admit_batch.source, self._settle_batch.source,
                       self._seed_script.script)
            for source in sources:
                await self._redis.script_load(source)
        except RedisError as exc:
            raise ServiceUnavailable(f"Redis is unreachable at {self._where}") from exc

    async def aclose(self) -> None:
        tasks = [*self._orphans, *([self._flush_task] if self._flush_task else [])]
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        await self._admit_batch.aclose()
        await self._settle_batch.aclose()
        await self._redis.aclose(close_connection_pool=True)

    async def _run_admit_script(
        self, keys: list[str], args: list[str], reservation: Reservation
    ) -> object:
        """Run the admit script, releasing its reservation if our caller is cancelled meanwhile.

        NOTE: a client that disconnects cancels its request task; the script may still run in
        Redis. The batch sees the reply of a call whose caller is gone, so what it reserved is
        given back at once instead of holding a budget until the lease expires.
        """
        return await self._admit_batch.submit(
            keys, args, lambda reply: self._release_orphan(reply, reservation))

    def _release_orphan(self, reply: object, reservation: Reservation) -> None:
        if decode_admit(reply, len(reservation.request.limits)).refused_kind is None:
            task = asyncio.create_task(self.release(reservation))
            self._orphans.add(task)
            task.add_done_callback(self._orphans.discard)

    async def _degraded_admit(self, request: AdmissionRequest, now: datetime) -> AdmissionResult:
        if self._policy is FailurePolicy.OPEN:
            return await self._local.admit(request, now)
        refusal = Refusal("", RefusalKind.UNAVAILABLE, 0, self._probe_interval_s)
        return AdmissionResult(None, refusal)

    def _settle_or_defer(self, call: Arguments) -> asyncio.Future[object] | None:
        """Send ``call`` with this iteration's settlements; on failure it is kept for replay."""
        if self._outage.should_skip_store():
            self._defer(call)
            return None
        pending = self._settle_batch.submit(*call)
        pending.add_done_callback(lambda done: self._on_settled(done, call))
        return pending

    def _on_settled(self, done: asyncio.Future[object], call: Arguments) -> None:
        if done.cancelled():
            return
        exc = done.exception()
        if exc is None:
            self._succeeded()
        elif isinstance(exc, RedisError):
            self._failed(exc)
            self._defer(call)
        else:
            _log.error("admission: settlement failed", exc_info=exc)

    def _defer(self, call: Arguments) -> None:
        if len(self._pending) >= self._max_pending:
            self._pending.popleft()
            self.dropped_settles += 1
            _log.warning("admission: settlement queue full while Redis is down; dropped the oldest")
        self._pending.append(call)

    def _failed(self, exc: RedisError) -> None:
        if self._outage.failed():
            _log.warning(
                "admission: Redis unreachable (%s); failing %s until it answers again",
                type(exc).__name__,
                self._policy.value,
            )

    def _succeeded(self) -> None:
        if self._outage.succeeded():
            _log.info("admission: Redis reachable again; shared limits restored")
        if self._pending and (self._flush_task is None or self._flush_task.done()):
            self._flush_task = asyncio.create_task(self._flush_pending())

    async def _flush_pending(self) -> None:
        """Replay deferred settlements in order; stop at the first failure (kept for later)."""
        while self._pending:
            keys, args = call = self._pending.popleft()
            try:
                await self._settle_batch.submit(keys, args)
            except RedisError as exc:
                self._pending.appendleft(call)
                self._failed(exc)
                return
