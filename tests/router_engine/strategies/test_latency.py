from __future__ import annotations

import pytest

from router_engine.stats import DeploymentStats
from router_engine.strategies import LowestLatency, RoutingRequest
from tests.router_engine.strategies.tables import assert_shares, dep, shares, snap

A, B, C = dep("a"), dep("b"), dep("c")


def lat(ms: float | None, ok: int = 0, fail: int = 0, ttft: float | None = None) -> DeploymentStats:
    return DeploymentStats(latency_ewma_ms=ms, ttft_ewma_ms=ttft, successes=ok, failures=fail)


CASES = [
    pytest.param(
        snap(a=lat(100), b=lat(109), c=lat(200)),
        RoutingRequest(),
        {"a": 0.5, "b": 0.5, "c": 0.0},
        id="within-10pct-buffer-share-evenly",
    ),
    pytest.param(
        snap(a=lat(100), b=lat(111), c=lat(200)),
        RoutingRequest(),
        {"a": 1.0, "b": 0.0, "c": 0.0},
        id="just-outside-buffer-excluded",
    ),
    pytest.param(
        snap(a=lat(100, ok=9, fail=1), b=lat(105, ok=3, fail=7), c=lat(300)),
        RoutingRequest(),
        {"a": 0.75, "b": 0.25, "c": 0.0},
        id="weighted-by-success-rate-0.9-vs-0.3",
    ),
    pytest.param(
        snap(a=lat(100), b=lat(None), c=lat(500)),
        RoutingRequest(),
        {"a": 0.5, "b": 0.5, "c": 0.0},
        id="unmeasured-always-in-pool",
    ),
    pytest.param(
        snap(),
        RoutingRequest(),
        {"a": 1 / 3, "b": 1 / 3, "c": 1 / 3},
        id="no-samples-uniform",
    ),
    pytest.param(
        snap(a=lat(100, ttft=900), b=lat(900, ttft=100), c=lat(900, ttft=950)),
        RoutingRequest(is_streaming=True),
        {"a": 0.0, "b": 1.0, "c": 0.0},
        id="streams-use-ttft",
    ),
    pytest.param(
        snap(a=lat(100, ttft=900), b=lat(900, ttft=100), c=lat(900, ttft=950)),
        RoutingRequest(is_streaming=False),
        {"a": 1.0, "b": 0.0, "c": 0.0},
        id="non-streams-use-latency",
    ),
    pytest.param(
        snap(a=lat(100, fail=5), b=lat(105, fail=5), c=lat(900)),
        RoutingRequest(),
        {"a": 0.5, "b": 0.5, "c": 0.0},
        id="all-zero-success-uniform-in-pool",
    ),
]


@pytest.mark.parametrize(("stats", "request_", "expected"), CASES)
def test_distribution_matches_rule(stats, request_, expected) -> None:
    assert_shares(shares(LowestLatency(), [A, B, C], stats, request_), expected)


def test_wider_buffer_admits_slower() -> None:
    stats = snap(a=lat(100), b=lat(140), c=lat(200))
    assert_shares(
        shares(LowestLatency(buffer=0.5), [A, B, C], stats), {"a": 0.5, "b": 0.5, "c": 0.0}
    )


def test_negative_buffer_refused() -> None:
    with pytest.raises(ValueError):
        LowestLatency(buffer=-0.1)
