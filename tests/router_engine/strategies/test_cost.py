from __future__ import annotations

from decimal import Decimal

import pytest

from router_engine.deployment import Deployment
from router_engine.strategies import LowestCost, RoutingRequest
from tests.router_engine.strategies.tables import assert_shares, dep, shares

D = Decimal
TABLE = {"p/a": (D("2.50"), D("10")), "p/b": (D("0.15"), D("0.60")), "p/c": (D("3"), D("15"))}


def table(deployment: Deployment) -> tuple[Decimal, Decimal] | None:
    return TABLE.get(deployment.id)


def priced(name: str, input_: str, output: str) -> Deployment:
    return dep(name, input_cost_per_mtok=D(input_), output_cost_per_mtok=D(output))


CASES = [
    pytest.param(
        [dep("a"), dep("b"), dep("c")], RoutingRequest(), table, {"b": 1.0}, id="table-cheapest"
    ),
    pytest.param(
        [dep("a", input_cost_per_mtok=D("0.01")), dep("b")],
        RoutingRequest(),
        table,
        {"b": 1.0},
        id="override-merges-with-table-per-field",
    ),
    pytest.param(
        [dep("a", input_cost_per_mtok=D("0.01"), output_cost_per_mtok=D("0.02")), dep("b")],
        RoutingRequest(),
        table,
        {"a": 1.0},
        id="full-override-beats-table",
    ),
    pytest.param(
        [priced("x", "1", "10"), priced("y", "5", "2")],
        RoutingRequest(prompt_tokens=1000, max_completion_tokens=10),
        None,
        {"x": 1.0},
        id="prompt-heavy-prefers-cheap-input",
    ),
    pytest.param(
        [priced("x", "1", "10"), priced("y", "5", "2")],
        RoutingRequest(prompt_tokens=10, max_completion_tokens=1000),
        None,
        {"y": 1.0},
        id="completion-heavy-prefers-cheap-output",
    ),
    pytest.param(
        [priced("x", "1", "2"), priced("y", "2", "1")],
        RoutingRequest(),
        None,
        {"x": 0.5, "y": 0.5},
        id="equal-cost-uniform",
    ),
    pytest.param(
        [dep("u"), priced("y", "50", "100")],
        RoutingRequest(),
        table,
        {"y": 1.0},
        id="unpriced-after-priced",
    ),
    pytest.param(
        [dep("u"), dep("v")], RoutingRequest(), table, {"u": 0.5, "v": 0.5}, id="all-unpriced"
    ),
]


@pytest.mark.parametrize(("candidates", "request_", "lookup", "expected"), CASES)
def test_distribution_matches_rule(candidates, request_, lookup, expected) -> None:
    full = {d.upstream_model: 0.0 for d in candidates} | expected
    assert_shares(shares(LowestCost(lookup), candidates, None, request_), full)


def test_prices_are_decimal_exact() -> None:
    strategy = LowestCost(table)
    assert strategy.prices(dep("b")) == (D("0.15"), D("0.60"))
    assert strategy.prices(dep("zzz")) is None
