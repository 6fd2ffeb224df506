from __future__ import annotations

import random

import pytest

from router_engine.stats import DeploymentStats
from router_engine.strategies import LowestTpmRpm, RoutingRequest
from schemas.errors import RateLimited
from tests.router_engine.strategies.tables import assert_shares, dep, shares, snap


def used(requests: int = 0, tokens: int = 0) -> DeploymentStats:
    return DeploymentStats(minute_requests=requests, minute_tokens=tokens)


ASK_100 = RoutingRequest(model_group="g", prompt_tokens=60, max_completion_tokens=40)

CASES = [
    pytest.param(
        [dep("a"), dep("b"), dep("c")],
        snap(a=used(5, 5000), b=used(9, 1000), c=used(1, 3000)),
        {"b": 1.0},
        id="lowest-tokens",
    ),
    pytest.param(
        [dep("a"), dep("b")],
        snap(a=used(5, 1000), b=used(2, 1000)),
        {"b": 1.0},
        id="tokens-tie-then-fewer-requests",
    ),
    pytest.param(
        [dep("a"), dep("b")],
        snap(a=used(2, 1000), b=used(2, 1000)),
        {"a": 0.5, "b": 0.5},
        id="full-tie-uniform",
    ),
    pytest.param(
        [dep("a", tpm=1050), dep("b")],
        snap(a=used(1, 1000), b=used(1, 5000)),
        {"b": 1.0},
        id="skip-when-request-would-pass-tpm",
    ),
    pytest.param(
        [dep("a", tpm=1100), dep("b")],
        snap(a=used(1, 1000), b=used(1, 5000)),
        {"a": 1.0},
        id="exactly-at-tpm-limit-fits",
    ),
    pytest.param(
        [dep("a", rpm=10), dep("b")],
        snap(a=used(10, 0), b=used(3, 500)),
        {"b": 1.0},
        id="skip-when-rpm-reached",
    ),
    pytest.param(
        [dep("a", rpm=10), dep("b")],
        snap(a=used(9, 0), b=used(3, 500)),
        {"a": 1.0},
        id="one-request-left-under-rpm",
    ),
]


@pytest.mark.parametrize(("candidates", "stats", "expected"), CASES)
def test_distribution_matches_rule(candidates, stats, expected) -> None:
    full = {d.upstream_model: 0.0 for d in candidates} | expected
    assert_shares(shares(LowestTpmRpm(), candidates, stats, ASK_100), full)


def test_every_deployment_full_is_rate_limited_until_next_minute() -> None:
    candidates = [dep("a", rpm=5), dep("b", tpm=1000)]
    stats = snap(taken_at_s=1_900_000_040.0, a=used(5, 0), b=used(0, 950))
    with pytest.raises(RateLimited) as caught:
        LowestTpmRpm().choose(candidates, stats, random.Random(0), ASK_100)
    assert caught.value.retry_after_s == pytest.approx(40.0)
    assert caught.value.headers["Retry-After"] == "40"
    assert "'g'" in caught.value.message
