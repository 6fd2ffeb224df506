"""The admission contract for standalone mode: one process, one in-memory admission."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import timedelta

import pytest

from ingress.admission import Limit, MemoryAdmission
from tests.ingress.admission.contract import NOW, AdmissionContract, Pair, budget, plan


class TestMemoryAdmission(AdmissionContract):
    @pytest.fixture
    async def pair(self) -> AsyncIterator[Pair]:
        admission = MemoryAdmission()
        yield admission, admission
        await admission.aclose()


async def test_finished_windows_are_dropped_so_memory_stays_bounded() -> None:
    admission = MemoryAdmission()
    for i in range(50):
        scope = f"enduser:{i}"
        result = await admission.admit(plan(Limit(scope, rpm=5, max_parallel=2)), NOW)
        assert result.reservation is not None
        await admission.settle(result.reservation, 0, 0, NOW)
    limit = budget("key:k1", 1_000)
    result = await admission.admit(plan(limit, cost=10), NOW)
    assert result.reservation is not None
    await admission.settle(result.reservation, 10, 0, NOW)
    start = limit.budget_window_start(NOW)
    # Two days later the day window is over, plus its one-window retention: all of it is gone.
    await admission.admit(plan(), NOW + timedelta(days=2, minutes=1))
    assert (await admission.budget_spend("key:k1", start)).spent_micros == 0
    assert admission.tracked_counters() == 0
