"""The most a request can cost, before it is sent: what the admission reserves.

A request reserves against tpm limits its prompt (counted locally) plus its output cap
(``max_completion_tokens``, ``max_tokens`` or ``max_output_tokens``, times ``n`` / ``best_of``),
and against budgets the cost of those tokens at the most expensive deployment it may be routed to
(its model group and every fallback group). A request that sets no cap reserves
``default_max_tokens`` of output against budgets, but only its prompt against tpm: holding
thousands of tokens it will most likely not use would lock a small tpm limit after one request.

Money stays integer: prices are read once per deployment as micro-dollars per 10^9 tokens, and the
reservation is rounded up, so it is never below the cost the router will price the call at.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from router_engine import Deployment, Router, count_request_prompt_tokens, count_text_tokens
from router_engine.providers import Operation
from schemas.config import RoutingConfig
from schemas.errors import ModelNotFound
from schemas.token_usage import TokenUsage

__all__ = ["ReservationEstimator", "fallback_groups"]

_TOKEN_SCALE = 10**9
"""Rates are micro-dollars per this many tokens: exact for prices with up to 9 decimals."""
_CAP_FIELDS = ("max_completion_tokens", "max_tokens", "max_output_tokens")
_MAX_CACHED_MODELS = 4096


class _ModelPrices:
    """Per requested model: the tokenizer to count with, and the rates it may be billed at."""

    __slots__ = ("rates", "tokenizer_model")

    def __init__(self, tokenizer_model: str, rates: tuple[tuple[int, int], ...]) -> None:
        self.tokenizer_model = tokenizer_model
        self.rates = rates
        """``(input, output)`` micro-dollars per 10^9 tokens of every deployment, deduplicated."""


class ReservationEstimator:
    """Tokens and cost to reserve for a request, from the router's deployments and prices.

    Args:
        router: resolves model names and prices deployments (the same prices settlement uses).
        fallbacks: ``routing.fallbacks`` (when enabled) and ``routing.context_window_fallbacks``
            merged: model group -> the groups a call may fall back to.
        default_max_tokens: the output cap of a request that sets none.
    """

    def __init__(self, router: Router, fallbacks: Mapping[str, Sequence[str]],
                 default_max_tokens: int) -> None:
        self._router = router
        self._fallbacks = fallbacks
        self._default_max_tokens = default_max_tokens
        self._models: dict[str, _ModelPrices] = {}
        self._rates: dict[str, tuple[int, int]] = {}

    def estimate(self, model: str, body: Mapping[str, Any],
                 operation: Operation = "chat") -> tuple[int, int]:
        """``(tpm tokens, cost_micros)`` to reserve for ``body`` sent to ``model``.

        Raises:
            ModelNotFound: no deployment serves ``model``.
        """
        prices = self._prices(model)
        prompt = _prompt_tokens(body, operation, prices.tokenizer_model)
        cap = 0 if operation == "embeddings" else _output_cap(body)
        output = self._default_max_tokens * _choices(body) if cap is None else cap
        scaled = max((prompt * r_in + output * r_out for r_in, r_out in prices.rates), default=0)
        return prompt + (cap or 0), -(-scaled // _TOKEN_SCALE)  # NOTE: ceiling division

    def _prices(self, model: str) -> _ModelPrices:
        # PERF: resolving and pricing every candidate costs tens of microseconds; per requested
        # model name it is done once (bounded: cleared when it holds too many names).
        prices = self._models.get(model)
        if prices is None:
            if len(self._models) >= _MAX_CACHED_MODELS:
                self._models.clear()
            deployments = self._router.resolve(model)
            candidates = [*deployments, *self._fallback_deployments(deployments)]
            rates = tuple(dict.fromkeys(self._rate(d) for d in candidates))
            prices = self._models[model] = _ModelPrices(deployments[0].upstream_model, rates)
        return prices

    def _fallback_deployments(self, deployments: Iterable[Deployment]) -> list[Deployment]:
        found: list[Deployment] = []
        groups = dict.fromkeys(d.model_group for d in deployments)
        for group in groups:
            for name in self._fallbacks.get(group, ()):
                try:
                    found.extend(self._router.resolve(name))
                except ModelNotFound:
                    continue  # NOTE: the router skips an unknown fallback group the same way
        return found

    def _rate(self, deployment: Deployment) -> tuple[int, int]:
        rate = self._rates.get(deployment.id)
        if rate is None:
            price = self._router.price
            rate = self._rates[deployment.id] = (
                price(deployment, TokenUsage(prompt_tokens=_TOKEN_SCALE)).cost_micros,
                price(deployment, TokenUsage(completion_tokens=_TOKEN_SCALE)).cost_micros,
            )
        return rate


def fallback_groups(routing: RoutingConfig) -> dict[str, list[str]]:
    """Model group -> every group a call to it may end up on (fallbacks, context window ones)."""
    merged: dict[str, list[str]] = {}
    chains = [routing.context_window_fallbacks]
    if routing.fallback_enabled:
        chains.append(routing.fallbacks)
    for chain in chains:
        for group, names in chain.items():
            merged.setdefault(group, []).extend(names)
    return merged


def _prompt_tokens(body: Mapping[str, Any], operation: Operation, model: str) -> int:
    if operation == "chat":
        return count_request_prompt_tokens(body, model)
    return _input_tokens(body.get("prompt" if operation == "completions" else "input"), model)


def _input_tokens(value: Any, model: str) -> int:
    """Tokens of a completions ``prompt`` or an embeddings ``input``: a string, token ids, or a
    list of either."""
    if isinstance(value, str):
        return count_text_tokens(value, model)
    if not isinstance(value, list):
        return 0
    if all(isinstance(item, int) for item in value):
        return len(value)
    return sum(_input_tokens(item, model) for item in value)


def _output_cap(body: Mapping[str, Any]) -> int | None:
    """The most output tokens the request allows over all its choices; None if it sets no cap."""
    for name in _CAP_FIELDS:
        value = body.get(name)
        if isinstance(value, int) and not isinstance(value, bool) and value >= 0:
            return value * _choices(body)
    return None


def _choices(body: Mapping[str, Any]) -> int:
    """How many completions the request has generated (``n``, or ``best_of`` if larger)."""
    return max(_count(body.get("n")), _count(body.get("best_of")))


def _count(value: Any) -> int:
    return value if isinstance(value, int) and not isinstance(value, bool) and value > 1 else 1
