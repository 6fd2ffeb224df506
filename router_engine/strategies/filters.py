"""Who may be chosen at all: the steps applied to a model group before any strategy.

``eligible`` runs, in this order:

1. **Tags.** A request without tags keeps every deployment. A request with tags keeps the
   deployments that carry *every* requested tag; if none does, the deployments tagged ``default``;
   if none is, nothing (the router answers that no deployment serves those tags).
2. **Health.** Drop a deployment whose circuit breaker does not admit a call
   (``router_engine.cooldown.admits``: cooled down, or half-open with its probe already running),
   and one already running ``max_parallel`` calls (in flight, summed over every instance).
3. **Order.** Keep only the lowest ``order`` among what is left (an unset order counts as 0), so a
   higher order serves only while every deployment of each lower order is unhealthy.

An empty result means no deployment can take the call now; the strategy is not asked.

Within one call, ``for_attempt`` adds a step between health and order: a deployment that refused
the gateway itself (401, 403, 404) is dropped for the rest of the call, and deployments not yet
tried in this call are preferred (of any order) while there are some; only when every healthy
deployment was tried does a retry go back to one of them.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence

from router_engine.cooldown import admits
from router_engine.deployment import Deployment
from router_engine.stats.base import StatsSnapshot
from router_engine.strategies.base import RoutingRequest

__all__ = ["DEFAULT_TAG", "by_order", "by_tags", "eligible", "for_attempt", "healthy"]

DEFAULT_TAG = "default"


def by_tags(candidates: Sequence[Deployment], tags: Sequence[str]) -> list[Deployment]:
    """Step 1: the deployments that serve a request with ``tags``."""
    if not tags:
        return list(candidates)
    wanted = set(tags)
    matching = [d for d in candidates if wanted.issubset(d.tags)]
    return matching or [d for d in candidates if DEFAULT_TAG in d.tags]


def healthy(
    candidates: Sequence[Deployment], stats: StatsSnapshot, now_s: float
) -> list[Deployment]:
    """Step 2: admitted by the breaker and below ``max_parallel``."""
    kept = []
    for deployment in candidates:
        live = stats.get(deployment.id)
        cooldown = live.cooldown
        if cooldown is not None and not admits(cooldown, live.in_flight, now_s):
            continue  # NOTE: without a cooldown entry the breaker is closed: admitted
        if deployment.max_parallel is not None and live.in_flight >= deployment.max_parallel:
            continue
        kept.append(deployment)
    return kept


def by_order(candidates: Sequence[Deployment]) -> list[Deployment]:
    """Step 3: the deployments of the lowest ``order`` present."""
    if len(candidates) < 2:
        return list(candidates)
    lowest = min(d.order or 0 for d in candidates)
    return [d for d in candidates if (d.order or 0) == lowest]


def eligible(
    candidates: Sequence[Deployment],
    stats: StatsSnapshot,
    request: RoutingRequest,
    *,
    now_s: float,
) -> list[Deployment]:
    """Every step in order: what the strategy may choose from (possibly nothing)."""
    return by_order(healthy(by_tags(candidates, request.tags), stats, now_s))


def for_attempt(
    candidates: Sequence[Deployment],
    stats: StatsSnapshot,
    request: RoutingRequest,
    *,
    now_s: float,
    tried: Collection[str] = (),
    excluded: Collection[str] = (),
) -> list[Deployment]:
    """``eligible``, for one attempt of a call that already tried ``tried`` (see the module rules).

    Args:
        tried: ids of deployments this call already sent to.
        excluded: ids of deployments this call must not use again.
    """
    # PERF: the usual first attempt (no tags, nothing tried or excluded) makes one list, not
    # five; the steps and their order are those of the rules above.
    pool = healthy(by_tags(candidates, request.tags) if request.tags else candidates, stats,
                   now_s)
    if excluded:
        pool = [d for d in pool if d.id not in excluded]
    if tried:
        pool = [d for d in pool if d.id not in tried] or pool
    return pool if len(pool) < 2 else by_order(pool)
