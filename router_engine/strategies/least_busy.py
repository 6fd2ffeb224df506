"""``least-busy``: send the call where the fewest calls are running.

Rule: pick the candidate with the fewest requests in flight (``in_flight``, summed over every
instance in distributed mode); ties are broken uniformly at random.
"""

from __future__ import annotations

import random
from collections.abc import Sequence

from router_engine.deployment import Deployment
from router_engine.stats.base import StatsSnapshot
from router_engine.strategies.base import RoutingRequest, Strategy

__all__ = ["LeastBusy"]


class LeastBusy(Strategy):
    name = "least-busy"

    def choose(
        self,
        candidates: Sequence[Deployment],
        stats: StatsSnapshot,
        rng: random.Random,
        request: RoutingRequest,
    ) -> Deployment:
        loads = [stats.get(d.id).in_flight for d in candidates]
        fewest = min(loads)
        tied = [d for d, load in zip(candidates, loads, strict=True) if load == fewest]
        return tied[rng.randrange(len(tied))] if len(tied) > 1 else tied[0]
