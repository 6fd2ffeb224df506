"""``simple-shuffle``: weighted random choice, the default strategy.

Rule: pick at random with probability proportional to a weight, chosen per call from the
candidates' configuration:

1. if any candidate sets ``weight``: its ``weight`` (a candidate without one counts as 1);
2. else if every candidate sets ``rpm``: its ``rpm``;
3. else if every candidate sets ``tpm``: its ``tpm``;
4. else uniform.

A weight of 0 means "never", unless every candidate weighs 0 (then uniform). Live stats are not
read.
"""

from __future__ import annotations

import random
from collections.abc import Sequence

from router_engine.deployment import Deployment
from router_engine.stats.base import StatsSnapshot
from router_engine.strategies.base import RoutingRequest, Strategy, weighted_pick

__all__ = ["SimpleShuffle", "shuffle_weights"]


def shuffle_weights(candidates: Sequence[Deployment]) -> list[float]:
    """The weights ``simple-shuffle`` draws with (see the module rule)."""
    if any(d.weight is not None for d in candidates):
        return [float(d.weight if d.weight is not None else 1) for d in candidates]
    rpms = [d.rpm for d in candidates]
    if all(rpm is not None for rpm in rpms):
        return [float(rpm or 0) for rpm in rpms]
    tpms = [d.tpm for d in candidates]
    if all(tpm is not None for tpm in tpms):
        return [float(tpm or 0) for tpm in tpms]
    return [1.0] * len(candidates)


class SimpleShuffle(Strategy):
    name = "simple-shuffle"

    def choose(
        self,
        candidates: Sequence[Deployment],
        stats: StatsSnapshot,
        rng: random.Random,
        request: RoutingRequest,
    ) -> Deployment:
        if len(candidates) == 1:
            return candidates[0]  # NOTE: as weighted_pick would, without weighing first
        return weighted_pick(candidates, shuffle_weights(candidates), rng)
