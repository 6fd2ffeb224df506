"""The routing strategy interface: pick one deployment from the eligible candidates.

A strategy is pure: given the candidates, the stats snapshot, the random source and the request it
always picks the same deployment. It does no I/O and reads no clock, so its tests are tables.
Filtering (tags, cooldowns, ``order``) happens before, in ``router_engine.strategies.filters``.
"""

from __future__ import annotations

import random
from abc import ABC, abstractmethod
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import ClassVar, TypeVar

from router_engine.deployment import Deployment
from router_engine.stats.base import StatsSnapshot

__all__ = ["PriceLookup", "RoutingRequest", "Strategy", "weighted_pick"]

PriceLookup = Callable[[Deployment], tuple[Decimal, Decimal] | None]
"""Deployment → ``(input, output)`` USD per million tokens from the price table, or None."""

_T = TypeVar("_T")


@dataclass(frozen=True, slots=True)
class RoutingRequest:
    """What a strategy may know about the call being routed."""

    model_group: str = ""
    prompt_tokens: int = 0
    """Estimated prompt tokens."""
    max_completion_tokens: int = 0
    """Completion tokens the call may use (``max_tokens``), or an estimate; 0 when unknown."""
    tags: tuple[str, ...] = ()
    """Tags the caller requires (every one must be on the deployment)."""
    is_streaming: bool = False
    round_robin_ticket: int | None = None
    """The group's rotation ticket from ``StatsStore.next_round_robin`` (round-robin only)."""

    @property
    def estimated_tokens(self) -> int:
        return self.prompt_tokens + self.max_completion_tokens


class Strategy(ABC):
    """Picks one deployment among eligible candidates."""

    name: ClassVar[str]
    uses_round_robin: ClassVar[bool] = False
    """When True, the router takes a ticket (``next_round_robin``) and puts it on the request."""
    needs_token_estimate: ClassVar[bool] = False
    """When True, the router counts the prompt's tokens for ``RoutingRequest.prompt_tokens``."""

    @abstractmethod
    def choose(
        self,
        candidates: Sequence[Deployment],
        stats: StatsSnapshot,
        rng: random.Random,
        request: RoutingRequest,
    ) -> Deployment:
        """Pick one of ``candidates`` (never empty: the router checks first).

        Args:
            candidates: eligible deployments of one model group, already filtered.
            stats: the live stats snapshot.
            rng: the only source of randomness.
            request: what is known about the call.

        Raises:
            RateLimited: only ``lowest-tpm-rpm``, when every candidate is at its limits.
        """


def weighted_pick(items: Sequence[_T], weights: Sequence[float], rng: random.Random) -> _T:
    """One of ``items`` with probability proportional to its weight; uniform if all are 0."""
    if len(items) == 1:
        return items[0]
    if sum(weights) <= 0:
        return items[rng.randrange(len(items))]
    return rng.choices(items, weights=weights, k=1)[0]
