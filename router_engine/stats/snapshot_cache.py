"""The last snapshot a store built, rebuilt only where something changed.

A request event touches one deployment, so only that deployment's ``DeploymentStats`` is rebuilt;
the rest are reused. Everything is rebuilt when time moves past a boundary the store names (a
health bucket, a minute, the staleness limit) or after a refresh from the shared backend.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from types import MappingProxyType

from router_engine.stats.base import DeploymentStats, StatsSnapshot

__all__ = ["SnapshotCache"]


class SnapshotCache:
    __slots__ = ("_all_dirty", "_dirty", "_frozen", "_round_robin", "_snapshot", "_valid_until_s")

    def __init__(self) -> None:
        self._frozen: dict[str, DeploymentStats] = {}
        self._dirty: set[str] = set()
        self._all_dirty = True
        self._snapshot: StatsSnapshot | None = None
        self._round_robin: Mapping[str, int] | None = None
        self._valid_until_s = 0.0

    def touch(self, deployment_id: str) -> None:
        """``deployment_id``'s stats changed."""
        self._dirty.add(deployment_id)
        self._snapshot = None

    def touch_all(self) -> None:
        """Every deployment's stats, and the round-robin counters, may have changed."""
        self._all_dirty = True
        self._round_robin = None
        self._snapshot = None

    def touch_view(self) -> None:
        """Something outside the per-deployment stats changed (round-robin counters)."""
        self._round_robin = None
        self._snapshot = None

    def current(self, now_s: float) -> StatsSnapshot | None:
        """The cached snapshot if nothing changed and no boundary passed; else None."""
        if now_s >= self._valid_until_s:
            self.touch_all()
        return self._snapshot

    def rebuild(
        self,
        *,
        now_s: float,
        all_ids: Callable[[], Iterable[str]],
        freeze: Callable[[str], DeploymentStats],
        round_robin: Callable[[], Mapping[str, int]],
        is_stale: bool,
        valid_until_s: float,
    ) -> StatsSnapshot:
        """Rebuild what changed and cache the result until ``valid_until_s``.

        ``round_robin`` is called only after ``touch_view`` or ``touch_all``: a call's start and
        end leave the counters alone.
        """
        frozen = self._frozen
        if self._all_dirty:
            frozen = self._frozen = {dep: freeze(dep) for dep in sorted(all_ids())}
            self._all_dirty = False
        else:
            for dep in self._dirty:
                frozen[dep] = freeze(dep)
        self._dirty.clear()
        counters = self._round_robin
        if counters is None:
            counters = self._round_robin = round_robin()
        # PERF: positional (deployments, round_robin, taken_at_s, is_stale): a frozen
        # dataclass takes keywords ~0.3 µs slower, and this runs after every call's start.
        snapshot = self._snapshot = StatsSnapshot(
            MappingProxyType(dict(frozen)), counters, now_s, is_stale
        )
        self._valid_until_s = valid_until_s
        return snapshot
