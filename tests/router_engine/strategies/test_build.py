from __future__ import annotations

from typing import get_args

import pytest

import router_engine.strategies as strategies
from router_engine.strategies import STRATEGY_NAMES, Strategy, build_strategy
from schemas.config import RoutingStrategy


def test_every_configurable_name_builds_a_strategy_of_that_name() -> None:
    assert set(STRATEGY_NAMES) == set(get_args(RoutingStrategy))
    for name in STRATEGY_NAMES:
        strategy = build_strategy(name)
        assert isinstance(strategy, Strategy)
        assert strategy.name == name
    assert [n for n in STRATEGY_NAMES if build_strategy(n).uses_round_robin] == ["round-robin"]


def test_unknown_name_is_refused_with_the_choices() -> None:
    with pytest.raises(ValueError, match="least-busy"):
        build_strategy("fastest")


def test_options_reach_the_strategy() -> None:
    latency = build_strategy("lowest-latency", latency_buffer=0.3)
    assert latency.buffer == 0.3  # type: ignore[attr-defined]  # (LowestLatency)


def test_public_surface() -> None:
    assert sorted(strategies.__all__) == sorted(
        [
            "STRATEGY_NAMES", "LeastBusy", "LowestCost", "LowestLatency", "LowestTpmRpm",
            "PriceLookup", "RoundRobin", "RoutingRequest", "SimpleShuffle", "Strategy",
            "build_strategy", "by_order", "by_tags", "eligible", "for_attempt", "healthy",
                "weighted_pick",
        ]
    )  # fmt: skip
