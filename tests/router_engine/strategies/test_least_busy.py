from __future__ import annotations

import pytest

from router_engine.stats import DeploymentStats
from router_engine.strategies import LeastBusy
from tests.router_engine.strategies.tables import assert_shares, dep, shares, snap

A, B, C = dep("a"), dep("b"), dep("c")


def busy(n: int) -> DeploymentStats:
    return DeploymentStats(in_flight=n)


CASES = [
    pytest.param(snap(a=busy(3), b=busy(1), c=busy(2)), {"b": 1.0}, id="fewest-wins"),
    pytest.param(
        snap(a=busy(2), b=busy(2), c=busy(5)), {"a": 0.5, "b": 0.5}, id="ties-uniform"
    ),
    pytest.param(snap(a=busy(4), b=busy(9)), {"c": 1.0}, id="never-seen-counts-as-0"),
    pytest.param(snap(), {"a": 1 / 3, "b": 1 / 3, "c": 1 / 3}, id="all-idle-uniform"),
]


@pytest.mark.parametrize(("stats", "expected"), CASES)
def test_distribution_matches_rule(stats, expected) -> None:
    full = {"a": 0.0, "b": 0.0, "c": 0.0} | expected
    assert_shares(shares(LeastBusy(), [A, B, C], stats), full)
