"""What a call cost: a versioned price table plus per-deployment overrides from config.

The table ships with the package (``router_engine/prices.json``) and carries a ``version``; every
``Cost`` names the version it was computed with, so finance can re-price history with a corrected
table. Prices are ``Decimal`` USD per million tokens and costs integer micro-dollars
(``schemas.money.cost_micros``, rounded once per call): no float ever touches money.

Lookup for a deployment: its config overrides win field by field; the rest comes from the table
entry for its upstream model (exact name, then with date/version suffixes such as ``-2024-08-06``,
``-20241022`` or ``-latest`` removed), then from the provider type's default (the ``mock``
provider prices like ``gpt-4o-mini``). A model with no input or output price costs 0 and is
flagged ``price_known=False``, so an unpriced call is visible instead of silently free.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from decimal import Decimal
from importlib import resources
from typing import Any, NamedTuple

import orjson

from router_engine.deployment import Deployment
from schemas.money import Micros, cost_micros
from schemas.token_usage import TokenUsage

__all__ = ["CONFIG_PRICE_VERSION", "Cost", "PriceBook", "Rates"]

CONFIG_PRICE_VERSION = "config"
"""``Cost.price_version`` when a deployment's config overrides a price."""

_SUFFIX = re.compile(r"-(\d{4}-\d{2}-\d{2}|\d{8}|\d{4}|\d{3}|latest|v\d+(:\d+)?)$")
_MAX_SUFFIXES = 3
_MAX_QUOTES = 4096
"""Quotes remembered (one per deployment in practice; cleared past this)."""


@dataclass(frozen=True, slots=True)
class Cost:
    cost_micros: Micros
    """What the call cost, in integer micro-dollars."""
    price_version: str
    """The price table version used, or ``CONFIG_PRICE_VERSION`` for config overrides."""
    price_known: bool
    """False when no price was found: ``cost_micros`` is then 0, not a real cost."""


class Rates(NamedTuple):
    """USD per million tokens; None where unknown."""

    input: Decimal | None = None
    output: Decimal | None = None
    cached_input: Decimal | None = None
    """Price of prompt tokens read from the provider's cache; the input price when None."""


def _decimal(value: Any) -> Decimal | None:
    if value is None:
        return None
    return Decimal(str(value))


def _rates(entry: Mapping[str, Any]) -> Rates:
    return Rates(
        _decimal(entry.get("input")),
        _decimal(entry.get("output")),
        _decimal(entry.get("cached_input")),
    )


def _name_candidates(model: str) -> list[str]:
    """``model`` normalised, then with dated or versioned suffixes stripped one at a time."""
    name = model.rsplit("/", 1)[-1].lower()
    names = [name]
    for _ in range(_MAX_SUFFIXES):
        stripped = _SUFFIX.sub("", name)
        if stripped == name:
            break
        names.append(stripped)
        name = stripped
    return names


def _cost_of(rates: Rates, usage: TokenUsage) -> Micros:
    """Micro-dollars for ``usage`` at ``rates`` (input and output prices must be known)."""
    assert rates.input is not None and rates.output is not None
    cached = min(usage.cached_tokens, usage.prompt_tokens)
    cached_rate = rates.cached_input if rates.cached_input is not None else rates.input
    return cost_micros(
        (usage.prompt_tokens - cached, rates.input),
        (cached, cached_rate),
        (usage.completion_tokens, rates.output),
    )


class PriceBook:
    """A price table: model name → ``Rates``, under one version."""

    def __init__(
        self,
        version: str,
        models: Mapping[str, Rates],
        provider_defaults: Mapping[str, str] | None = None,
    ) -> None:
        self.version = version
        self._models = {name.lower(): rates for name, rates in models.items()}
        self._provider_defaults = dict(provider_defaults or {})
        self._quotes: dict[tuple[Any, ...], tuple[Rates, str] | None] = {}

    @classmethod
    def from_json(cls, data: bytes) -> PriceBook:
        """A book from a ``prices.json`` document (prices written as decimal strings)."""
        table = orjson.loads(data)
        models = {name: _rates(entry) for name, entry in table["models"].items()}
        return cls(str(table["version"]), models, table.get("provider_defaults", {}))

    @classmethod
    def from_bundled(cls) -> PriceBook:
        """The table shipped with this package."""
        data = resources.files("router_engine").joinpath("prices.json").read_bytes()
        return cls.from_json(data)

    def table_rates(self, model: str, provider_type: str = "") -> Rates | None:
        """The table's rates for ``model`` (a provider's upstream model name), if any."""
        for name in _name_candidates(model):
            rates = self._models.get(name)
            if rates is not None:
                return rates
        default = self._provider_defaults.get(provider_type)
        return self._models.get(default) if default else None

    def quote(self, deployment: Deployment) -> tuple[Rates, str] | None:
        """The rates that price ``deployment`` and their version; None if no price is known."""
        # PERF: every call is priced; the answer depends only on these fields, so it is looked
        # up once per distinct deployment (name normalising, a regex, merging: ~3 µs a call).
        key = (deployment.upstream_model, deployment.provider_type,
               deployment.input_cost_per_mtok, deployment.output_cost_per_mtok,
               deployment.cached_input_cost_per_mtok)
        try:
            return self._quotes[key]
        except KeyError:
            pass
        if len(self._quotes) >= _MAX_QUOTES:
            self._quotes.clear()
        quote = self._quotes[key] = self._look_up(deployment)
        return quote

    def _look_up(self, deployment: Deployment) -> tuple[Rates, str] | None:
        table = self.table_rates(deployment.upstream_model, deployment.provider_type) or Rates()
        override = Rates(
            deployment.input_cost_per_mtok,
            deployment.output_cost_per_mtok,
            deployment.cached_input_cost_per_mtok,
        )
        pairs = zip(override, table, strict=True)
        merged = Rates(*(mine if mine is not None else base for mine, base in pairs))
        if merged.input is None or merged.output is None:
            return None
        is_overridden = any(value is not None for value in override)
        return merged, CONFIG_PRICE_VERSION if is_overridden else self.version

    def io_rates(self, deployment: Deployment) -> tuple[Decimal, Decimal] | None:
        """``(input, output)`` USD per million tokens for ``deployment``, or None if unknown.

        The shape routing strategies take as a price lookup (``lowest-cost``).
        """
        quote = self.quote(deployment)
        if quote is None:
            return None
        rates = quote[0]
        assert rates.input is not None and rates.output is not None
        return rates.input, rates.output

    def price(self, deployment: Deployment, usage: TokenUsage) -> Cost:
        """What ``usage`` on ``deployment`` cost."""
        quote = self.quote(deployment)
        if quote is None:
            return Cost(0, self.version, False)
        rates, version = quote
        return Cost(_cost_of(rates, usage), version, True)
