"""Entities as the management API returns them, with LiteLLM's field names.

Money goes out as a JSON number of dollars rendered from integer micro-dollars through
``Decimal`` (exact; never a float), times as ISO 8601 UTC. A key's hash never leaves the gateway:
a key is shown by its id (``token_id``) and prefix only.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from decimal import Decimal
from typing import Any, Protocol

import msgspec

from ingress.control.state import ControlState
from schemas.events import EndUserState, EntityLimits, KeyState, OrgState, TeamState, UserState

__all__ = [
    "encode_json",
    "end_user_view",
    "key_view",
    "limits_view",
    "org_view",
    "page",
    "team_view",
    "usd",
    "user_view",
]

_ENCODER = msgspec.json.Encoder(decimal_format="number")


def encode_json(body: Any) -> bytes:
    """JSON bytes of a response body (``Decimal`` money as JSON numbers)."""
    return _ENCODER.encode(body)


def usd(amount_micros: int | None) -> Decimal | None:
    """Micro-dollars as an exact ``Decimal`` of dollars (``1500000`` → ``1.5``)."""
    if amount_micros is None:
        return None
    value = Decimal(amount_micros).scaleb(-6).normalize()
    return value.quantize(Decimal(1)) if value == value.to_integral_value() else value


def _time(moment: datetime | None) -> str | None:
    return moment.isoformat() if moment is not None else None


def limits_view(limits: EntityLimits) -> dict[str, Any]:
    model_budgets: dict[str, Any] = {}
    for model, amount in limits.model_max_budget_micros.items():
        period = limits.model_budget_duration.get(model)
        model_budgets[model] = (usd(amount) if period is None
                                else {"budget_limit": usd(amount), "time_period": period})
    return {
        "max_budget": usd(limits.max_budget_micros),
        "soft_budget": usd(limits.soft_budget_micros),
        "budget_duration": limits.budget_duration,
        "tpm_limit": limits.tpm_limit,
        "rpm_limit": limits.rpm_limit,
        "max_parallel_requests": limits.max_parallel_requests,
        "model_max_budget": model_budgets,
        "model_tpm_limit": dict(limits.model_tpm_limit),
        "model_rpm_limit": dict(limits.model_rpm_limit),
    }


class _Governed(Protocol):
    """What users, teams, organizations and end users share: limits, metadata, a block flag."""

    @property
    def limits(self) -> EntityLimits: ...
    @property
    def metadata(self) -> dict[str, Any]: ...
    @property
    def blocked(self) -> bool: ...
    @property
    def created_at(self) -> datetime | None: ...
    @property
    def updated_at(self) -> datetime | None: ...


def _governed_view(entity: _Governed) -> dict[str, Any]:
    """The fields every governed entity's view ends with, in LiteLLM's order."""
    return {
        **limits_view(entity.limits),
        "metadata": dict(entity.metadata),
        "blocked": entity.blocked,
        "created_at": _time(entity.created_at),
        "updated_at": _time(entity.updated_at),
    }


def key_view(key: KeyState) -> dict[str, Any]:
    return {
        "token_id": key.key_id,
        "key_alias": key.key_alias,
        "key_name": key.key_name,
        "key_prefix": key.key_prefix,
        "user_id": key.user_id,
        "team_id": key.team_id,
        "organization_id": key.org_id,
        "models": list(key.models),
        **limits_view(key.limits),
        "metadata": dict(key.metadata),
        "expires": _time(key.expires),
        "blocked": key.blocked,
        "key_type": key.key_type,
        "auto_rotate": key.auto_rotate,
        "rotation_interval": key.rotation_interval,
        "rotation_count": key.rotation_count,
        "last_rotation_at": _time(key.last_rotation_at),
        "created_at": _time(key.created_at),
        "updated_at": _time(key.updated_at),
    }


def user_view(user: UserState, state: ControlState) -> dict[str, Any]:
    return {
        "user_id": user.user_id,
        "user_alias": user.user_alias,
        "user_email": user.user_email,
        "user_role": user.user_role,
        "organization_id": user.org_id,
        "teams": [team.team_id for team in state.teams_of_user(user.user_id)],
        "models": list(user.models),
        **_governed_view(user),
    }


def team_view(team: TeamState) -> dict[str, Any]:
    return {
        "team_id": team.team_id,
        "team_alias": team.team_alias,
        "organization_id": team.org_id,
        "members_with_roles": [{"user_id": m.user_id, "role": m.role} for m in team.members],
        "models": list(team.models),
        "model_groups": {name: list(models) for name, models in team.model_groups.items()},
        **_governed_view(team),
    }


def org_view(org: OrgState) -> dict[str, Any]:
    return {
        "organization_id": org.org_id,
        "organization_alias": org.org_alias,
        "members": [{"user_id": m.user_id, "user_role": m.user_role,
                     "max_budget": usd(m.max_budget_micros)} for m in org.members],
        "models": list(org.models),
        "model_groups": {name: list(models) for name, models in org.model_groups.items()},
        **_governed_view(org),
    }


def end_user_view(end_user: EndUserState) -> dict[str, Any]:
    return {
        "user_id": end_user.end_user_id,
        "alias": end_user.alias,
        "models": list(end_user.models),
        **_governed_view(end_user),
    }


def page(items: Sequence[dict[str, Any]], limit: int, offset: int) -> dict[str, Any]:
    """A list response: ``{"data": [...], "total": n}`` for one page of ``items``."""
    return {"data": list(items[offset:offset + limit]), "total": len(items),
            "limit": limit, "offset": offset}
