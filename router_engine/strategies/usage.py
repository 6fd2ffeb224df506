"""``lowest-tpm-rpm``: spread load by current-minute usage, never past a deployment's limits.

Rule:

1. Skip every candidate this call would push over a limit: ``rpm`` set and
   ``minute_requests + 1 > rpm``, or ``tpm`` set and ``minute_tokens + estimated_tokens > tpm``
   (``estimated_tokens`` = prompt estimate + ``max_tokens``). The minute is the calendar minute.
2. Among the rest, pick the lowest ``minute_tokens``, then the lowest ``minute_requests``; ties are
   broken uniformly at random.
3. If every candidate would go over, raise ``RateLimited`` with ``Retry-After`` = the seconds left
   in the current minute.
"""

from __future__ import annotations

import math
import random
from collections.abc import Sequence

from router_engine.deployment import Deployment
from router_engine.stats.base import DeploymentStats, StatsSnapshot
from router_engine.strategies.base import RoutingRequest, Strategy
from schemas.errors import RateLimited

__all__ = ["LowestTpmRpm", "has_headroom"]


def has_headroom(deployment: Deployment, stats: DeploymentStats, tokens: int) -> bool:
    """Whether one more call of ``tokens`` tokens stays within the deployment's rpm and tpm."""
    if deployment.rpm is not None and stats.minute_requests + 1 > deployment.rpm:
        return False
    return deployment.tpm is None or stats.minute_tokens + tokens <= deployment.tpm


class LowestTpmRpm(Strategy):
    name = "lowest-tpm-rpm"
    needs_token_estimate = True

    def choose(
        self,
        candidates: Sequence[Deployment],
        stats: StatsSnapshot,
        rng: random.Random,
        request: RoutingRequest,
    ) -> Deployment:
        tokens = request.estimated_tokens
        usage = {d.id: stats.get(d.id) for d in candidates}
        fits = [d for d in candidates if has_headroom(d, usage[d.id], tokens)]
        if not fits:
            retry_after_s = 60.0 - math.fmod(stats.taken_at_s, 60.0)
            raise RateLimited(
                f"every deployment of '{request.model_group}' is at its rpm/tpm limit "
                "for this minute",
                retry_after_s=retry_after_s,
            )

        def key(d: Deployment) -> tuple[int, int]:
            return usage[d.id].minute_tokens, usage[d.id].minute_requests

        lowest = min(key(d) for d in fits)
        tied = [d for d in fits if key(d) == lowest]
        return tied[rng.randrange(len(tied))] if len(tied) > 1 else tied[0]
