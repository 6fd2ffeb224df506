"""``round-robin``: take the candidates in turn, one rotation per model group.

Rule: sort the candidates by deployment id and pick the one at index ``(ticket - 1) mod n``, where
``ticket`` is the group's rotation ticket (1, 2, 3, ...) that the router took from
``StatsStore.next_round_robin`` for this call. In distributed mode that ticket is one Redis
``HINCRBY`` shared by every instance, so the rotation is global. Without a ticket on the request,
the snapshot's last known counter + 1 is used. A candidate filtered out (cooldown, tags) is
skipped: the rotation continues over the rest.
"""

from __future__ import annotations

import random
from collections.abc import Sequence

from router_engine.deployment import Deployment
from router_engine.stats.base import StatsSnapshot
from router_engine.strategies.base import RoutingRequest, Strategy

__all__ = ["RoundRobin"]


class RoundRobin(Strategy):
    name = "round-robin"
    uses_round_robin = True

    def choose(
        self,
        candidates: Sequence[Deployment],
        stats: StatsSnapshot,
        rng: random.Random,
        request: RoutingRequest,
    ) -> Deployment:
        ticket = request.round_robin_ticket
        if ticket is None:
            ticket = stats.round_robin.get(request.model_group, 0) + 1
        ordered = sorted(candidates, key=lambda d: d.id)
        return ordered[(ticket - 1) % len(ordered)]
