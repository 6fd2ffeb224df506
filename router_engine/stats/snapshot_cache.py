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
    __slots__ = ("_all_dirty", "_dirty", "_frozen", "_snapshot", "_valid_until_s")

    def __init__(self) -> None:
        self._frozen: dict[str, DeploymentStats] = {}
        self._dirty: set[str] = set()
        self._all_dirty = True
        self._snapshot: StatsSnapshot | None = None
        self._valid_until_s = 0.0

    def touch(self, deployment_id: str) -> None:
        """``deployment_id``'s stats changed."""
        self._dirty.add(deployment_id)
        self._snapshot = None

    def touch_all(self) -> None:
        """Every deployment's stats may have changed."""
        self._all_dirty = True
        self._snapshot = None

    def touch_view(self) -> None:
        """Something outside the per-deployment stats changed (round-robin counters)."""
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
        round_robin: Mapping[str, int],
        is_stale: bool,
        valid_until_s: float,
    ) -> StatsSnapshot:
        """Rebuild what changed and cache the result until ``valid_until_s``."""
        if self._all_dirty:
            self._frozen = {dep: freeze(dep) for dep in sorted(all_ids())}
            self._all_dirty = False
        else:
            for dep in self._dirty:
                self._frozen[dep] = freeze(dep)
        self._dirty.clear()
        self._snapshot = StatsSnapshot(
            deployments=MappingProxyType(dict(self._frozen)),
            round_robin=round_robin,
            taken_at_s=now_s,
            is_stale=is_stale,
        )
        self._valid_until_s = valid_until_s
        return self._snapshot
