"""Helpers shared by the runner tests: waiting for a condition, and a spend view's totals."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

from projections import Projection, SpendView


def spend_totals(spend: Projection[Any]) -> dict[tuple[str, str], tuple[int, ...]]:
    """The spend view's rows, shaped as ``events.expected_spend`` computes them."""
    assert isinstance(spend.view, SpendView)
    return {
        (r.key_id, r.day.isoformat()): (r.requests, r.prompt_tokens, r.completion_tokens,
                                        r.cached_tokens, r.reasoning_tokens, r.cost_micros)
        for r in spend.view.rows()
    }


async def until(condition: Callable[[], bool]) -> None:
    """Return once ``condition()`` holds; fail after about 5 s."""
    for _ in range(500):
        if condition():
            return
        await asyncio.sleep(0.01)
    raise AssertionError("condition never became true")
