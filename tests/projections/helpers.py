"""Helpers shared by the runner tests: running runners, waiting for a condition, spend totals."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Callable
from typing import Any

from projections import Projection, ProjectionRunner, SpendView


@contextlib.asynccontextmanager
async def running(*runners: ProjectionRunner) -> AsyncIterator[None]:
    """``run`` every runner while the block runs; then stop them (within 5 s) and close them."""
    stop = asyncio.Event()
    tasks = [asyncio.create_task(runner.run(stop)) for runner in runners]
    try:
        yield
    finally:
        stop.set()
        await asyncio.wait_for(asyncio.gather(*tasks), 5)
        for runner in runners:
            await runner.aclose()


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
