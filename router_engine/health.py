"""Deployment health: live stats and circuit breakers, fed by every call the router makes.

``DeploymentHealth`` joins the stats store (in memory, or shared through Redis) and this instance's
circuit breakers. The router takes a ``Lease`` when it sends a call to a deployment and finishes it
exactly once when the call ends: the stats store records the end, the breaker judges the result,
and a verdict (open, or close after a probe) is written to the store, so every instance sees it.
Admin cooldowns (``cool_down``/``clear``) go through the same shared entry.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from router_engine.cooldown import (
    BreakerPhase,
    BreakerPolicy,
    BreakerVerdict,
    CircuitBreakers,
    phase_of,
)
from router_engine.deployment import Deployment
from router_engine.stats.base import DeploymentStats, StatsSnapshot, StatsStore

__all__ = ["CLIENT_GONE_STATUS", "DeploymentHealth", "DeploymentState", "Lease"]

CLIENT_GONE_STATUS = 499
"""Recorded for a call the client abandoned: neutral, neither a success nor a failure."""


@dataclass(frozen=True, slots=True)
class DeploymentState:
    """One deployment as an operator sees it: its configuration, breaker phase and live stats."""

    deployment: Deployment
    phase: BreakerPhase
    stats: DeploymentStats
    cooldown_remaining_s: float
    """Seconds until an open breaker turns half-open (0 when not open)."""


class Lease:
    """One call's claim on a deployment: started in the stats store, finished exactly once."""

    __slots__ = ("_done", "_health", "_started", "deployment", "status")

    def __init__(self, health: DeploymentHealth, deployment: Deployment) -> None:
        self.deployment = deployment
        self.status: int | None = None
        """The upstream HTTP status, once response headers arrived."""
        self._health = health
        self._started = time.perf_counter()
        self._done = False

    def ms_since_start(self, at: float | None = None) -> float:
        """Milliseconds from the call's start to ``at`` (a ``perf_counter`` value) or now."""
        return ((time.perf_counter() if at is None else at) - self._started) * 1000.0

    async def finish(
        self, *, ok: bool, status: int | None, tokens: int = 0, ttft_ms: float | None = None
    ) -> None:
        """Record the end and apply the breaker's verdict. Later calls do nothing.

        Args:
            ok: the call produced a response for the client.
            status: the upstream status that decides the outcome; None when no usable response
                arrived (connection error, timeout, a stream that broke).
            tokens: prompt + completion tokens used.
            ttft_ms: time to first token, for a stream.
        """
        if self._done:
            return
        self._done = True
        # PERF: the breaker's verdict is awaited only when there is one (rarely): no coroutine
        # per finished call besides this one.
        verdict = self._health.record(self, ok=ok, status=status, tokens=tokens, ttft_ms=ttft_ms)
        if verdict is not None:
            await self._health.apply(self.deployment.id, verdict)

    def abandon(self) -> None:
        """The caller went away (cancelled): record a neutral end, synchronously."""
        if not self._done:
            self._done = True
            self._health.record_abandoned(self)


class DeploymentHealth:
    """Live stats plus breakers for every deployment of this router.

    Args:
        stats: the stats store (shared by every instance in distributed mode).
        policy: the circuit breaker's rules.
        group_size: the number of deployments in a deployment's model group.
        clock: wall-clock seconds; the stats store must use the same clock.
    """

    def __init__(
        self,
        stats: StatsStore,
        policy: BreakerPolicy,
        group_size: Callable[[Deployment], int],
        *,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.stats = stats
        self._breakers = CircuitBreakers(policy)
        self._group_size = group_size
        self._clock = clock

    def now(self) -> float:
        return self._clock()

    def snapshot(self) -> StatsSnapshot:
        return self.stats.snapshot()

    def start(self, deployment: Deployment) -> Lease:
        """A call to ``deployment`` starts now (in flight +1 on every instance's view)."""
        self.stats.record_start(deployment.id)
        return Lease(self, deployment)

    def record(
        self, lease: Lease, *, ok: bool, status: int | None, tokens: int, ttft_ms: float | None
    ) -> BreakerVerdict | None:
        """Record a call's end; the breaker's verdict, to ``apply``, or None."""
        deployment_id = lease.deployment.id
        stats = self.stats
        stats.record_end(
            deployment_id, latency_ms=lease.ms_since_start(), ttft_ms=ttft_ms, ok=ok,
            tokens=tokens, status=status,
        )
        return self._breakers[deployment_id].on_result(
            now_s=self._clock(), ok=ok, status=status,
            # PERF: only a failure reads the group's size; a success skips the lookup.
            group_size=1 if ok else self._group_size(lease.deployment),
            cooldown=stats.cooldown_of(deployment_id),
        )

    async def apply(self, deployment_id: str, verdict: BreakerVerdict) -> None:
        """Make a breaker's verdict visible to every instance."""
        if verdict.opens:
            assert verdict.until_s is not None
            await self.stats.set_cooldown(deployment_id, until_s=verdict.until_s,
                                          reason=verdict.reason)
        else:
            await self.stats.clear_cooldown(deployment_id)

    def record_abandoned(self, lease: Lease) -> None:
        self.stats.record_end(
            lease.deployment.id, latency_ms=lease.ms_since_start(), ttft_ms=None, ok=False,
            tokens=0, status=CLIENT_GONE_STATUS,
        )

    async def cool_down(self, deployment_id: str, seconds: float, reason: str) -> None:
        """Take ``deployment_id`` out of rotation for ``seconds`` on every instance."""
        await self.stats.set_cooldown(deployment_id, until_s=self._clock() + seconds,
                                      reason=reason)

    async def clear(self, deployment_id: str) -> None:
        """Put ``deployment_id`` back into rotation on every instance (the breaker closes)."""
        await self.stats.clear_cooldown(deployment_id)

    def states(self, deployments: Sequence[Deployment]) -> list[DeploymentState]:
        """Every deployment's phase and live stats, from the current snapshot."""
        snapshot = self.stats.snapshot()
        now = self._clock()
        states = []
        for deployment in deployments:
            live = snapshot.get(deployment.id)
            phase = phase_of(live.cooldown, now)
            remaining = 0.0
            if phase is BreakerPhase.OPEN and live.cooldown is not None:
                remaining = max(0.0, live.cooldown.until_s - now)
            states.append(DeploymentState(deployment, phase, live, remaining))
        return states
