"""Routing strategies: pure functions of (candidates, stats snapshot, random source, request).

Each strategy's exact rule is in its module docstring; ``filters`` holds the steps applied to a
model group before any strategy (tags, health, order). ``build_strategy`` turns the configured
name (``routing.strategy``) into an instance. Imports only ``schemas``,
``router_engine.deployment``, ``router_engine.stats`` and ``router_engine.cooldown``.
"""

from __future__ import annotations

from collections.abc import Callable

from router_engine.strategies.base import PriceLookup, RoutingRequest, Strategy, weighted_pick
from router_engine.strategies.cost import LowestCost
from router_engine.strategies.filters import by_order, by_tags, eligible, for_attempt, healthy
from router_engine.strategies.latency import DEFAULT_LATENCY_BUFFER, LowestLatency
from router_engine.strategies.least_busy import LeastBusy
from router_engine.strategies.round_robin import RoundRobin
from router_engine.strategies.shuffle import SimpleShuffle
from router_engine.strategies.usage import LowestTpmRpm

__all__ = [
    "STRATEGY_NAMES",
    "LeastBusy",
    "LowestCost",
    "LowestLatency",
    "LowestTpmRpm",
    "PriceLookup",
    "RoundRobin",
    "RoutingRequest",
    "SimpleShuffle",
    "Strategy",
    "build_strategy",
    "by_order",
    "by_tags",
    "eligible",
    "for_attempt",
    "healthy",
    "weighted_pick",
]


def _factories(
    price_lookup: PriceLookup | None, latency_buffer: float
) -> dict[str, Callable[[], Strategy]]:
    return {
        SimpleShuffle.name: SimpleShuffle,
        RoundRobin.name: RoundRobin,
        LowestLatency.name: lambda: LowestLatency(latency_buffer),
        LeastBusy.name: LeastBusy,
        LowestTpmRpm.name: LowestTpmRpm,
        LowestCost.name: lambda: LowestCost(price_lookup),
    }


STRATEGY_NAMES = tuple(_factories(None, DEFAULT_LATENCY_BUFFER))
"""Every name ``build_strategy`` accepts, as in ``routing.strategy``."""


def build_strategy(
    name: str,
    *,
    price_lookup: PriceLookup | None = None,
    latency_buffer: float = DEFAULT_LATENCY_BUFFER,
) -> Strategy:
    """The strategy called ``name``.

    Args:
        name: one of ``STRATEGY_NAMES``.
        price_lookup: the price table for ``lowest-cost`` (deployment → per-million prices).
        latency_buffer: ``lowest-latency``'s buffer over the best (0.10 = 10 %).

    Raises:
        ValueError: for an unknown name.
    """
    factory = _factories(price_lookup, latency_buffer).get(name)
    if factory is None:
        raise ValueError(f"unknown routing strategy {name!r}; expected one of {STRATEGY_NAMES}")
    return factory()
