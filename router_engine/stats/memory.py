"""Live stats of one process (standalone mode): plain dictionaries, no I/O, no background task.

The rules both stores follow:

- in flight: +1 at ``record_start``, -1 at ``record_end`` (never below 0).
- latency and TTFT: ``ewma = alpha * sample + (1 - alpha) * ewma`` (``alpha`` 0.2; the first sample
  seeds it), fed by successful calls only, so a deployment that fails fast never looks fast.
- health window: successes and failures (``classify_outcome``) over the last ``window_s`` seconds
  (60 s), counted in 12 buckets; a neutral outcome (the caller's 4xx) counts in neither.
- current minute: requests counted at start, tokens at end, in the calendar minute
  ``floor(unix_time / 60)``; both read 0 once the minute is over.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from types import MappingProxyType

from router_engine.stats.base import (
    Cooldown,
    DeploymentStats,
    Outcome,
    StatsSnapshot,
    StatsStore,
    classify_outcome,
)
from router_engine.stats.snapshot_cache import SnapshotCache
from router_engine.stats.window import SlidingWindow

__all__ = ["DEFAULT_EWMA_ALPHA", "DEFAULT_WINDOW_S", "MemoryStatsStore"]

DEFAULT_EWMA_ALPHA = 0.2
DEFAULT_WINDOW_S = 60.0


def _ewma(current: float | None, sample: float, alpha: float) -> float:
    return sample if current is None else alpha * sample + (1.0 - alpha) * current


class _LiveStats:
    """The mutable counters of one deployment."""

    __slots__ = (
        "in_flight",
        "latency",
        "minute",
        "minute_requests",
        "minute_tokens",
        "ttft",
        "window",
    )

    def __init__(self, window_s: float) -> None:
        self.in_flight = 0
        self.latency: float | None = None
        self.ttft: float | None = None
        self.window = SlidingWindow(window_s)
        self.minute = -1
        self.minute_requests = 0
        self.minute_tokens = 0

    def roll_minute(self, minute: int) -> None:
        if minute != self.minute:
            self.minute, self.minute_requests, self.minute_tokens = minute, 0, 0

    def freeze(self, now_s: float, cooldown: Cooldown | None) -> DeploymentStats:
        successes, failures = self.window.counts(now_s)
        same_minute = self.minute == math.floor(now_s / 60)
        # PERF: positional, in field order (in_flight, latency, ttft, successes, failures,
        # minute requests and tokens, cooldown): ~0.3 µs cheaper than keywords per rebuild.
        return DeploymentStats(
            self.in_flight,
            self.latency,
            self.ttft,
            successes,
            failures,
            self.minute_requests if same_minute else 0,
            self.minute_tokens if same_minute else 0,
            cooldown,
        )


class MemoryStatsStore(StatsStore):
    """Stats of this process only. Every method is synchronous underneath and never fails.

    Args:
        window_s: length of the health window.
        ewma_alpha: weight of the newest latency sample.
        clock: wall-clock seconds (``time.time``); tests pass their own.
    """

    def __init__(
        self,
        *,
        window_s: float = DEFAULT_WINDOW_S,
        ewma_alpha: float = DEFAULT_EWMA_ALPHA,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._window_s = window_s
        self._alpha = ewma_alpha
        self._clock = clock
        self._live: dict[str, _LiveStats] = {}
        self._cooldowns: dict[str, Cooldown] = {}
        self._round_robin: dict[str, int] = {}
        self._cache = SnapshotCache()

    def _stats(self, deployment_id: str) -> _LiveStats:
        live = self._live.get(deployment_id)
        if live is None:
            live = self._live[deployment_id] = _LiveStats(self._window_s)
        return live

    def snapshot(self) -> StatsSnapshot:
        now = self._clock()
        # PERF: rebuilt only after a change, and then only the deployment that changed, or when
        # a bucket or minute boundary passes. Measured with 20 deployments (snapshot + eligible
        # + least-busy + record): 63 us per decision rebuilding everything, 22 us this way.
        cached = self._cache.current(now)
        if cached is not None:
            return cached
        bucket_s = self._window_s / 12
        return self._cache.rebuild(
            now_s=now,
            all_ids=lambda: self._live.keys() | self._cooldowns.keys(),
            freeze=lambda dep: self._stats(dep).freeze(now, self._cooldowns.get(dep)),
            round_robin=lambda: MappingProxyType(dict(self._round_robin)),
            is_stale=False,
            valid_until_s=min(
                (math.floor(now / bucket_s) + 1) * bucket_s, (math.floor(now / 60) + 1) * 60.0
            ),
        )

    def record_start(self, deployment_id: str) -> None:
        live = self._stats(deployment_id)
        live.in_flight += 1
        live.roll_minute(math.floor(self._clock() / 60))
        live.minute_requests += 1
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
        live = self._stats(deployment_id)
        live.in_flight = max(0, live.in_flight - 1)
        live.roll_minute(math.floor(now / 60))
        live.minute_tokens += max(0, tokens)
        outcome = classify_outcome(ok, status)
        if outcome is Outcome.SUCCESS:
            live.window.add(now, successes=1)
            live.latency = _ewma(live.latency, latency_ms, self._alpha)
            if ttft_ms is not None:
                live.ttft = _ewma(live.ttft, ttft_ms, self._alpha)
        elif outcome is Outcome.FAILURE:
            live.window.add(now, failures=1)
        self._cache.touch(deployment_id)

    def cooldown_of(self, deployment_id: str) -> Cooldown | None:
        return self._cooldowns.get(deployment_id)

    async def next_round_robin(self, group: str) -> int:
        ticket = self._round_robin.get(group, 0) + 1
        self._round_robin[group] = ticket
        self._cache.touch_view()
        return ticket

    async def set_cooldown(self, deployment_id: str, *, until_s: float, reason: str) -> None:
        self._cooldowns[deployment_id] = Cooldown(until_s=until_s, reason=reason)
        self._cache.touch(deployment_id)

    async def clear_cooldown(self, deployment_id: str) -> None:
        self._cooldowns.pop(deployment_id, None)
        self._cache.touch(deployment_id)
