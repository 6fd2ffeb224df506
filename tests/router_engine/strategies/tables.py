"""Shared test vocabulary for strategy tables: deployments, snapshots, and pick counting."""

from __future__ import annotations

import random
from collections import Counter
from collections.abc import Sequence
from types import MappingProxyType
from typing import Any

from router_engine.deployment import Deployment
from router_engine.stats import DeploymentStats, StatsSnapshot
from router_engine.strategies import RoutingRequest, Strategy
from schemas.config import ProviderConfig

PROVIDER = ProviderConfig(name="p", type="mock")
PICKS = 10_000
TOLERANCE = 0.02
"""Absolute tolerance on a share over ``PICKS`` draws (about 4.5 standard deviations at 50 %)."""


def dep(name: str, **fields: Any) -> Deployment:
    return Deployment(
        id=f"p/{name}", model_group="g", upstream_model=name, provider=PROVIDER, **fields
    )


def snap(taken_at_s: float = 0.0, **per_deployment: DeploymentStats) -> StatsSnapshot:
    """A snapshot with stats keyed by deployment *name* (``p/<name>``)."""
    stats = {f"p/{name}": value for name, value in per_deployment.items()}
    return StatsSnapshot(deployments=MappingProxyType(stats), taken_at_s=taken_at_s)


def shares(
    strategy: Strategy,
    candidates: Sequence[Deployment],
    stats: StatsSnapshot | None = None,
    request: RoutingRequest | None = None,
    *,
    seed: int = 7,
    picks: int = PICKS,
) -> dict[str, float]:
    """Share of ``picks`` choices per deployment name (names never chosen are absent)."""
    rng = random.Random(seed)
    stats = stats or StatsSnapshot()
    request = request or RoutingRequest(model_group="g")
    counts = Counter(
        strategy.choose(candidates, stats, rng, request).upstream_model for _ in range(picks)
    )
    return {name: count / picks for name, count in counts.items()}


def assert_shares(actual: dict[str, float], expected: dict[str, float]) -> None:
    assert set(actual) == {name for name, share in expected.items() if share > 0}, actual
    for name, share in expected.items():
        assert abs(actual.get(name, 0.0) - share) <= TOLERANCE, (name, actual)
