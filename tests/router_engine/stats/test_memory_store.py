from __future__ import annotations

import pytest

from router_engine.stats import MemoryStatsStore
from tests.router_engine.stats.contract import FakeClock, Pair, StatsStoreContract


class TestMemoryStatsStore(StatsStoreContract):
    @pytest.fixture
    def clock(self) -> FakeClock:
        return FakeClock()

    @pytest.fixture
    def pair(self, clock: FakeClock) -> Pair:
        store = MemoryStatsStore(clock=clock)
        return store, store
