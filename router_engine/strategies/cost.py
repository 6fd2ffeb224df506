"""``lowest-cost``: send the call to the cheapest deployment.

Rule:

1. A deployment's input and output prices (USD per million tokens) each come from its own override
   (``input_cost_per_mtok``, ``output_cost_per_mtok``), else from the price table (the injected
   ``price_lookup``). A deployment missing either price is unpriced.
2. Its cost for this call is ``input * prompt_tokens + output * max_completion_tokens``; when the
   request carries no token estimate, ``input + output`` (one token of each).
3. Pick the lowest cost (``Decimal`` arithmetic, no floats); ties are broken uniformly at random.
   Unpriced deployments are used only when no candidate is priced, then uniformly at random.
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from decimal import Decimal

from router_engine.deployment import Deployment
from router_engine.stats.base import StatsSnapshot
from router_engine.strategies.base import PriceLookup, RoutingRequest, Strategy

__all__ = ["LowestCost"]


class LowestCost(Strategy):
    """Args: price_lookup: the price table's prices for a deployment, when it has no override."""

    name = "lowest-cost"
    needs_token_estimate = True

    def __init__(self, price_lookup: PriceLookup | None = None) -> None:
        self._lookup = price_lookup

    def prices(self, deployment: Deployment) -> tuple[Decimal, Decimal] | None:
        """``(input, output)`` per million tokens, or None when unpriced."""
        table = self._lookup(deployment) if self._lookup is not None else None
        input_price = deployment.input_cost_per_mtok
        output_price = deployment.output_cost_per_mtok
        if table is not None:
            input_price = table[0] if input_price is None else input_price
            output_price = table[1] if output_price is None else output_price
        if input_price is None or output_price is None:
            return None
        return input_price, output_price

    def choose(
        self,
        candidates: Sequence[Deployment],
        stats: StatsSnapshot,
        rng: random.Random,
        request: RoutingRequest,
    ) -> Deployment:
        costs: list[tuple[Deployment, Decimal]] = []
        for deployment in candidates:
            prices = self.prices(deployment)
            if prices is not None:
                costs.append((deployment, _cost(prices, request)))
        if not costs:
            return candidates[rng.randrange(len(candidates))]
        cheapest = min(cost for _, cost in costs)
        tied = [d for d, cost in costs if cost == cheapest]
        return tied[rng.randrange(len(tied))] if len(tied) > 1 else tied[0]


def _cost(prices: tuple[Decimal, Decimal], request: RoutingRequest) -> Decimal:
    input_price, output_price = prices
    if request.prompt_tokens == 0 and request.max_completion_tokens == 0:
        return input_price + output_price
    return input_price * request.prompt_tokens + output_price * request.max_completion_tokens
