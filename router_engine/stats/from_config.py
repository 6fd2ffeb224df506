"""Where live stats live for a given config: this process's memory, or Redis shared by all."""

from __future__ import annotations

from router_engine.stats.base import StatsStore
from router_engine.stats.memory import MemoryStatsStore
from router_engine.stats.redis import RedisStatsStore
from schemas.config import LLMuxConfig, duration_seconds

__all__ = ["stats_store_from_config", "uses_shared_stats"]


def uses_shared_stats(config: LLMuxConfig) -> bool:
    """Stats go to Redis in distributed mode, or when ``routing.distributed`` asks for it."""
    return config.is_distributed or config.routing.distributed


def stats_store_from_config(config: LLMuxConfig) -> StatsStore:
    """A ``RedisStatsStore`` on ``redis.url`` when shared, else a ``MemoryStatsStore``.

    The health window (success rates) is ``routing.cooldown_window``, the breaker's window.
    Start it (``await store.start()``) before serving; a Redis store fails there, naming Redis.
    """
    window_s = duration_seconds(config.routing.cooldown_window)
    if uses_shared_stats(config):
        return RedisStatsStore(config.redis.url, config.redis.key_prefix, window_s=window_s)
    return MemoryStatsStore(window_s=window_s)
