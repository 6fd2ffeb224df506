"""``lowest-latency``: prefer the fastest deployments, spread over those nearly as fast.

Rule:

1. The metric is the EWMA of time to first token (``ttft_ewma_ms``) for a streaming call, and
   the EWMA of whole-call latency (``latency_ewma_ms``) otherwise; both are fed by successful
   calls only.
2. ``best`` is the lowest metric among candidates that have one. The pool is every candidate whose
   metric is at most ``best * (1 + buffer)`` (``buffer`` 0.10), plus every candidate with no sample
   yet (so a new deployment gets measured). With no samples at all, the pool is every candidate.
3. Pick from the pool at random, weighted by each deployment's success rate in the health window
   (1.0 with no calls); uniform if every rate is 0.
"""

from __future__ import annotations

import random
from collections.abc import Sequence

from router_engine.deployment import Deployment
from router_engine.stats.base import DeploymentStats, StatsSnapshot
from router_engine.strategies.base import RoutingRequest, Strategy, weighted_pick

__all__ = ["DEFAULT_LATENCY_BUFFER", "LowestLatency"]

DEFAULT_LATENCY_BUFFER = 0.10


class LowestLatency(Strategy):
    """Args: buffer: how much slower than the best a deployment may be and still share traffic."""

    name = "lowest-latency"

    def __init__(self, buffer: float = DEFAULT_LATENCY_BUFFER) -> None:
        if buffer < 0:
            raise ValueError("buffer must be non-negative")
        self.buffer = buffer

    def choose(
        self,
        candidates: Sequence[Deployment],
        stats: StatsSnapshot,
        rng: random.Random,
        request: RoutingRequest,
    ) -> Deployment:
        entries = [(d, stats.get(d.id)) for d in candidates]
        metrics = [_metric(s, request.is_streaming) for _, s in entries]
        measured = [m for m in metrics if m is not None]
        if measured:
            limit = min(measured) * (1.0 + self.buffer)
            pool = [e for e, m in zip(entries, metrics, strict=True) if m is None or m <= limit]
        else:
            pool = entries
        return weighted_pick([d for d, _ in pool], [s.success_rate for _, s in pool], rng)


def _metric(stats: DeploymentStats, is_streaming: bool) -> float | None:
    return stats.ttft_ewma_ms if is_streaming else stats.latency_ewma_ms
