from __future__ import annotations

import pytest

from router_engine.stats import Cooldown, DeploymentStats
from router_engine.strategies import RoutingRequest, by_order, by_tags, eligible, healthy
from tests.router_engine.strategies.tables import dep, snap

NOW = 1_900_000_000.0
EU = dep("eu", tags=("eu", "premium"))
US = dep("us", tags=("us",))
DEF = dep("def", tags=("default",))
BARE = dep("bare")


def names(deployments) -> list[str]:
    return [d.upstream_model for d in deployments]


@pytest.mark.parametrize(
    ("tags", "expected"),
    [
        ((), ["eu", "us", "def", "bare"]),
        (("eu",), ["eu"]),
        (("eu", "premium"), ["eu"]),
        (("eu", "us"), ["def"]),
        (("asia",), ["def"]),
    ],
)
def test_tags(tags: tuple[str, ...], expected: list[str]) -> None:
    assert names(by_tags([EU, US, DEF, BARE], tags)) == expected


def test_tags_without_default_leave_nothing() -> None:
    assert by_tags([EU, US, BARE], ("asia",)) == []


def cooled(until_s: float, in_flight: int = 0) -> DeploymentStats:
    return DeploymentStats(cooldown=Cooldown(until_s=until_s, reason="test"), in_flight=in_flight)


@pytest.mark.parametrize(
    ("stats", "expected"),
    [
        pytest.param(snap(), ["a", "b"], id="no-stats-all-healthy"),
        pytest.param(snap(a=cooled(NOW + 5)), ["b"], id="open-cooldown-dropped"),
        pytest.param(snap(a=cooled(NOW)), ["a", "b"], id="half-open-admits-a-probe"),
        pytest.param(
            snap(a=cooled(NOW - 1, in_flight=1)), ["b"], id="half-open-probe-already-running"
        ),
        pytest.param(snap(b=DeploymentStats(in_flight=2)), ["a"], id="at-max-parallel"),
        pytest.param(snap(b=DeploymentStats(in_flight=1)), ["a", "b"], id="below-max-parallel"),
    ],
)
def test_health(stats, expected: list[str]) -> None:
    assert names(healthy([dep("a"), dep("b", max_parallel=2)], stats, NOW)) == expected


def test_order_lowest_present_wins_and_unset_counts_as_0() -> None:
    group = [dep("p1", order=1), dep("unset"), dep("p2", order=2), dep("z", order=0)]
    assert names(by_order(group)) == ["unset", "z"]
    assert names(by_order(group[2:3] + group[0:1])) == ["p1"]
    assert by_order([]) == []


def test_eligible_falls_to_next_order_only_when_lower_order_unhealthy() -> None:
    primary_1, primary_2 = dep("p1", order=1), dep("p2", order=1)
    backup = dep("b", order=2)
    group = [backup, primary_1, primary_2]
    request = RoutingRequest(model_group="g")
    assert names(eligible(group, snap(p1=cooled(NOW + 9)), request, now_s=NOW)) == ["p2"]
    both_down = snap(p1=cooled(NOW + 9), p2=cooled(NOW + 9))
    assert names(eligible(group, both_down, request, now_s=NOW)) == ["b"]
    everything_down = snap(p1=cooled(NOW + 9), p2=cooled(NOW + 9), b=cooled(NOW + 9))
    assert eligible(group, everything_down, request, now_s=NOW) == []
    # a cooldown ends by itself (half-open): the primary is back for its probe
    assert names(eligible(group, both_down, request, now_s=NOW + 9)) == ["p1", "p2"]


def test_eligible_applies_tags_before_order() -> None:
    cheap_us = dep("us", order=1, tags=("us",))
    eu = dep("eu", order=2, tags=("eu",))
    request = RoutingRequest(model_group="g", tags=("eu",))
    assert names(eligible([cheap_us, eu], snap(), request, now_s=NOW)) == ["eu"]
