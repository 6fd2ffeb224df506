"""The limits that apply to one request, as admission ``Limit`` objects.

Every entity on the caller's path contributes one scope when it has any budget or rate limit, and
one more scope per model it limits separately::

    key:<id>            key:<id>:model:<m>
    user:<id>           user:<id>:model:<m>
    team:<id>           team:<id>:model:<m>
    orgmember:<org>:<user>                     (the member's own budget inside the organization)
    org:<id>            org:<id>:model:<m>
    enduser:<id>        enduser:<id>:model:<m>

Scope names use ids only, so they never change for the life of an entity (admission counters are
keyed by them). Budget windows are aligned to the entity's creation time.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from ingress.admission import BudgetDuration, Limit, parse_budget_duration
from schemas.events import EndUserState, EntityLimits, KeyState, OrgState, TeamState, UserState

__all__ = ["LimitedEntity", "scope_limits"]

Entity = KeyState | UserState | TeamState | OrgState | EndUserState

_PREFIXES: dict[str, str] = {
    KeyState.KIND: "key", UserState.KIND: "user", TeamState.KIND: "team",
    OrgState.KIND: "org", EndUserState.KIND: "enduser",
}


@dataclass(frozen=True, slots=True)
class LimitedEntity:
    """One entity on a request's path: its scope name and limits."""

    scope: str
    limits: EntityLimits
    anchor: datetime
    """The entity's creation time: fixed-length budget windows are aligned to it."""

    @classmethod
    def of(cls, entity: Entity) -> LimitedEntity:
        return cls(f"{_PREFIXES[entity.KIND]}:{entity.entity_id}", entity.limits,
                   entity.created_at)


def scope_limits(entities: list[LimitedEntity], model: str) -> list[Limit]:
    """The ``Limit`` of each entity that limits anything, then of each that limits ``model``."""
    found: list[Limit] = []
    for entity in entities:
        whole = _whole(entity)
        if whole is not None:
            found.append(whole)
        per_model = _per_model(entity, model)
        if per_model is not None:
            found.append(per_model)
    return found


def _whole(entity: LimitedEntity) -> Limit | None:
    limits = entity.limits
    if (limits.max_budget_micros is None and limits.soft_budget_micros is None
            and limits.rpm_limit is None and limits.tpm_limit is None
            and limits.max_parallel_requests is None):
        return None
    return Limit(
        scope=entity.scope, rpm=limits.rpm_limit, tpm=limits.tpm_limit,
        max_parallel=limits.max_parallel_requests, max_budget_micros=limits.max_budget_micros,
        soft_budget_micros=limits.soft_budget_micros,
        budget_duration=_duration(limits.budget_duration),
        budget_anchor=entity.anchor,
    )


def _per_model(entity: LimitedEntity, model: str) -> Limit | None:
    limits = entity.limits
    budget = limits.model_max_budget_micros.get(model)
    rpm, tpm = limits.model_rpm_limit.get(model), limits.model_tpm_limit.get(model)
    if budget is None and rpm is None and tpm is None:
        return None
    duration = limits.model_budget_duration.get(model, limits.budget_duration)
    return Limit(
        scope=f"{entity.scope}:model:{model}", rpm=rpm, tpm=tpm, max_budget_micros=budget,
        budget_duration=_duration(duration),
        budget_anchor=entity.anchor,
    )


def _duration(text: str | None) -> BudgetDuration | None:
    return parse_budget_duration(text) if text else None
