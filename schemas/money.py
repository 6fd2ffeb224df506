"""Money is never a float: costs are integer micro-dollars (1 USD = 1,000,000 micros).

Prices are quoted per million tokens in USD as ``Decimal``. A price of P USD per million tokens is
exactly P micro-dollars per token, so a request's cost is ``sum(tokens * price)`` micros, rounded
once, half-to-even, to a whole micro-dollar. Rounding once per request (not per token class) keeps
spend reproducible to the micro when history is replayed or re-priced.
"""

from __future__ import annotations

from decimal import ROUND_HALF_EVEN, Decimal

__all__ = ["MICROS_PER_USD", "Micros", "cost_micros", "format_usd", "usd_to_micros"]

Micros = int
"""An amount of money in integer micro-dollars."""

MICROS_PER_USD = 1_000_000


def cost_micros(*token_prices: tuple[int, Decimal]) -> Micros:
    """Cost of ``(tokens, usd_per_million_tokens)`` pairs, rounded once to whole micro-dollars."""
    total = sum((Decimal(tokens) * price for tokens, price in token_prices), Decimal(0))
    return int(total.quantize(Decimal(1), rounding=ROUND_HALF_EVEN))


def usd_to_micros(usd: Decimal | int | str) -> Micros:
    """Convert a USD amount (as written in config or an API body) to micro-dollars."""
    micros = Decimal(usd) * MICROS_PER_USD
    return int(micros.quantize(Decimal(1), rounding=ROUND_HALF_EVEN))


def format_usd(micros: Micros) -> str:
    """Render micro-dollars as a fixed six-decimal USD string, for headers, CSV and JSON."""
    sign = "-" if micros < 0 else ""
    whole, frac = divmod(abs(micros), MICROS_PER_USD)
    return f"{sign}{whole}.{frac:06d}"
