from __future__ import annotations

import random

import pytest

from router_engine.stats import StatsSnapshot
from router_engine.strategies import RoutingRequest, SimpleShuffle
from tests.router_engine.strategies.tables import assert_shares, dep, shares

CASES = [
    pytest.param(
        [dep("a", weight=1), dep("b", weight=3)], {"a": 0.25, "b": 0.75}, id="weights-1-3"
    ),
    pytest.param(
        [dep("a", weight=2), dep("b", weight=3), dep("c", weight=5)],
        {"a": 0.2, "b": 0.3, "c": 0.5},
        id="weights-2-3-5",
    ),
    pytest.param(
        [dep("a", weight=3), dep("b")], {"a": 0.75, "b": 0.25}, id="unset-weight-counts-as-1"
    ),
    pytest.param(
        [dep("a", weight=0), dep("b", weight=1)], {"a": 0.0, "b": 1.0}, id="weight-0-never"
    ),
    pytest.param(
        [dep("a", weight=0), dep("b", weight=0)], {"a": 0.5, "b": 0.5}, id="all-0-uniform"
    ),
    pytest.param(
        [dep("a", weight=1, rpm=900), dep("b", weight=1, rpm=100)],
        {"a": 0.5, "b": 0.5},
        id="weight-wins-over-rpm",
    ),
    pytest.param(
        [dep("a", rpm=100), dep("b", rpm=300)], {"a": 0.25, "b": 0.75}, id="rpm-when-no-weight"
    ),
    pytest.param(
        [dep("a", rpm=100, tpm=9000), dep("b", tpm=1000)],
        {"a": 0.9, "b": 0.1},
        id="tpm-when-rpm-incomplete",
    ),
    pytest.param(
        [dep("a", rpm=100), dep("b")], {"a": 0.5, "b": 0.5}, id="uniform-when-nothing-complete"
    ),
    pytest.param(
        [dep("a"), dep("b"), dep("c"), dep("d")],
        {"a": 0.25, "b": 0.25, "c": 0.25, "d": 0.25},
        id="uniform",
    ),
]


@pytest.mark.parametrize(("candidates", "expected"), CASES)
def test_distribution_matches_rule(candidates: list, expected: dict[str, float]) -> None:
    assert_shares(shares(SimpleShuffle(), candidates), expected)


def test_same_seed_same_sequence() -> None:
    candidates = [dep("a", weight=1), dep("b", weight=3)]
    request, stats = RoutingRequest(), StatsSnapshot()

    def run(seed: int) -> list[str]:
        rng = random.Random(seed)
        return [SimpleShuffle().choose(candidates, stats, rng, request).id for _ in range(50)]

    assert run(1) == run(1)
    assert run(1) != run(2)
