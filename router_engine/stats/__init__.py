"""Live deployment stats: what routing knows about each deployment right now.

``MemoryStatsStore`` serves standalone mode; ``RedisStatsStore`` shares the stats between every
ingress instance in distributed mode. Both hand strategies the same immutable ``StatsSnapshot``.
Imports only ``schemas`` and the ``redis`` client.
"""

from router_engine.stats.base import (
    DEPLOYMENT_FAULT_4XX,
    Cooldown,
    DeploymentStats,
    Outcome,
    StatsSnapshot,
    StatsStore,
    classify_outcome,
)
from router_engine.stats.from_config import stats_store_from_config, uses_shared_stats
from router_engine.stats.memory import MemoryStatsStore
from router_engine.stats.redis import RedisStatsStore
from router_engine.stats.window import SlidingWindow

__all__ = [
    "DEPLOYMENT_FAULT_4XX",
    "Cooldown",
    "DeploymentStats",
    "MemoryStatsStore",
    "Outcome",
    "RedisStatsStore",
    "SlidingWindow",
    "StatsSnapshot",
    "StatsStore",
    "classify_outcome",
    "stats_store_from_config",
    "uses_shared_stats",
]
