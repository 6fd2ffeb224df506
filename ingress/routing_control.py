"""Operator control of routing: every deployment's live state, and cooldowns set by an admin.

A cooldown set here goes into the same shared entry the circuit breaker uses, through the stats
store, so in distributed mode it holds on every instance (they read it within one refresh, 100 ms).
When it ends the deployment is half-open: the next call to it is a probe, and its result closes or
reopens the breaker. ``seconds: 0`` (or ``DELETE``) closes the breaker at once.
"""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Any

import msgspec

from router_engine import DeploymentState, Router
from schemas.errors import NotFound

__all__ = ["MAX_COOLDOWN_S", "CooldownRequest", "RoutingControl", "render_state"]

MAX_COOLDOWN_S = 7 * 24 * 3600.0


class CooldownRequest(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """Body of ``POST /control/deployments/cooldown``."""

    deployment: str
    """A deployment id (``provider/model``), as listed by ``GET /control/deployments``."""
    seconds: Annotated[float, msgspec.Meta(ge=0, le=MAX_COOLDOWN_S)]
    """How long to keep it out of rotation; 0 puts it back now."""
    reason: Annotated[str, msgspec.Meta(max_length=200)] | None = None


def _iso(seconds: float) -> str:
    moment = dt.datetime.fromtimestamp(seconds, tz=dt.UTC)
    return moment.isoformat(timespec="milliseconds").replace("+00:00", "Z")


def _rounded(value: float | None) -> float | None:
    return None if value is None else round(value, 3)


def render_state(state: DeploymentState) -> dict[str, Any]:
    """One deployment as ``GET /control/deployments`` lists it."""
    deployment, live, cooldown = state.deployment, state.stats, state.stats.cooldown
    return {
        "id": deployment.id,
        "model_group": deployment.model_group,
        "provider": deployment.provider_name,
        "upstream_model": deployment.upstream_model,
        "state": state.phase.value,
        "cooldown_until": _iso(cooldown.until_s) if cooldown else None,
        "cooldown_remaining_s": round(state.cooldown_remaining_s, 3),
        "cooldown_reason": cooldown.reason if cooldown else None,
        "in_flight": live.in_flight,
        "latency_ewma_ms": _rounded(live.latency_ewma_ms),
        "ttft_ewma_ms": _rounded(live.ttft_ewma_ms),
        "success_rate": round(live.success_rate, 4),
        "successes": live.successes,
        "failures": live.failures,
        "minute_requests": live.minute_requests,
        "minute_tokens": live.minute_tokens,
        "weight": deployment.weight,
        "rpm": deployment.rpm,
        "tpm": deployment.tpm,
        "max_parallel": deployment.max_parallel,
        "order": deployment.order,
        "tags": list(deployment.tags),
    }


class RoutingControl:
    """What the ``/control/deployments`` endpoints do (the resources check the caller is admin).

    Args:
        router: the gateway's router (its deployments and their health).
        strategy: the configured strategy name, for the listing.
        is_shared: whether stats live in Redis (shared) or in this process.
    """

    def __init__(self, router: Router, *, strategy: str, is_shared: bool) -> None:
        self._router = router
        self._health = router.health
        self._strategy = strategy
        self._backend = "redis" if is_shared else "memory"

    def deployments(self) -> dict[str, Any]:
        """Every deployment with its breaker state and live stats."""
        states = self._health.states(self._router.deployments())
        return {
            "object": "list",
            "strategy": self._strategy,
            "stats_backend": self._backend,
            "stale": self._health.snapshot().is_stale,
            "data": [render_state(state) for state in states],
        }

    async def set_cooldown(self, request: CooldownRequest) -> dict[str, Any]:
        """Apply ``request`` on every instance; the deployment's state afterwards."""
        self._check_known(request.deployment)
        if request.seconds == 0:
            await self._health.clear(request.deployment)
        else:
            reason = f"set by an admin: {request.reason}" if request.reason else "set by an admin"
            await self._health.cool_down(request.deployment, request.seconds, reason)
        return self._state(request.deployment)

    async def clear_cooldown(self, deployment_id: str) -> dict[str, Any]:
        """Close ``deployment_id``'s breaker on every instance; its state afterwards."""
        self._check_known(deployment_id)
        await self._health.clear(deployment_id)
        return self._state(deployment_id)

    def _check_known(self, deployment_id: str) -> None:
        if all(d.id != deployment_id for d in self._router.deployments()):
            raise NotFound(f"No deployment '{deployment_id}'. GET /control/deployments lists them.",
                           param="deployment", code="deployment_not_found")

    def _state(self, deployment_id: str) -> dict[str, Any]:
        deployment = [d for d in self._router.deployments() if d.id == deployment_id]
        return render_state(self._health.states(deployment)[0])
