"""Turning management request fields into entity fields: money, durations, limits, expiry.

A request names LiteLLM fields in dollars and duration strings; entities store integer
micro-dollars and canonical durations. Only the fields a request actually sent are applied
(``UNSET`` leaves the entity's value), and ``null`` clears a limit. Invalid values raise
``InvalidRequest`` naming the field.
"""

from __future__ import annotations

import calendar
import re
from collections.abc import Mapping
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

import msgspec
from msgspec import UNSET

from ingress.admission import parse_budget_duration
from schemas.errors import InvalidRequest
from schemas.events import EntityLimits
from schemas.management import LimitFields, ModelBudget
from schemas.money import usd_to_micros

__all__ = [
    "apply_limits",
    "expiry",
    "is_set",
    "merged_metadata",
    "micros",
    "sent_fields",
]

_EXPIRY = re.compile(r"^\s*(\d+)\s*(s|m|h|d|w|mo)\s*$")
_EXPIRY_SECONDS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 7 * 86400}
_LIMIT_FIELDS = ("tpm_limit", "rpm_limit", "max_parallel_requests")


def is_set(value: object) -> bool:
    return value is not UNSET


def sent_fields(request: msgspec.Struct) -> dict[str, Any]:
    """The fields ``request`` actually carried (everything not ``UNSET``)."""
    return {name: value for name in request.__struct_fields__
            if (value := getattr(request, name)) is not UNSET}


def micros(usd: Decimal | None, field: str) -> int | None:
    """Dollars as integer micro-dollars (None stays None)."""
    if usd is None:
        return None
    if not usd.is_finite() or usd < 0:
        raise InvalidRequest(f"{field} must be a non-negative number of dollars.", param=field)
    return usd_to_micros(usd)


def _duration(text: str | None, field: str = "budget_duration") -> str | None:
    if text is None or text == "":
        return None
    try:
        return parse_budget_duration(text).text
    except InvalidRequest as exc:
        raise InvalidRequest(exc.message, param=field) from None


def apply_limits(current: EntityLimits, request: LimitFields) -> EntityLimits:
    """``current`` with every budget / limit field ``request`` sent."""
    changes: dict[str, Any] = {}
    for name in ("max_budget", "soft_budget"):
        amount = getattr(request, name)
        if amount is None or isinstance(amount, Decimal):
            changes[f"{name}_micros"] = micros(amount, name)
    if isinstance(request.budget_duration, str) or request.budget_duration is None:
        changes["budget_duration"] = _duration(request.budget_duration)
    for name in _LIMIT_FIELDS:
        value = getattr(request, name)
        if is_set(value):
            changes[name] = value
    if isinstance(request.model_max_budget, dict):
        budgets, durations = _model_budgets(request.model_max_budget)
        changes["model_max_budget_micros"] = budgets
        changes["model_budget_duration"] = durations
    for name in ("model_tpm_limit", "model_rpm_limit"):
        value = getattr(request, name)
        if is_set(value):
            changes[name] = dict(value)
    return msgspec.structs.replace(current, **changes) if changes else current


def _model_budgets(
    spec: Mapping[str, Decimal | ModelBudget],
) -> tuple[dict[str, int], dict[str, str]]:
    budgets: dict[str, int] = {}
    durations: dict[str, str] = {}
    for model, value in spec.items():
        field = f"model_max_budget.{model}"
        if isinstance(value, ModelBudget):
            budgets[model] = micros(value.budget_limit, field) or 0
            period = _duration(value.time_period, f"{field}.time_period")
            if period is not None:
                durations[model] = period
        else:
            budgets[model] = micros(value, field) or 0
    return budgets, durations


def merged_metadata(current: Mapping[str, Any], request: LimitFields) -> dict[str, Any]:
    """Metadata is merged, not replaced (a key set to null is removed)."""
    sent = request.metadata
    if not isinstance(sent, dict):
        return dict(current)
    merged = {**current, **sent}
    return {name: value for name, value in merged.items() if value is not None}


def expiry(duration: str | None, now: datetime) -> datetime | None:
    """When a key created (or updated) at ``now`` with ``duration`` expires; None: never."""
    if duration is None or duration.strip() in ("", "-1"):
        return None
    match = _EXPIRY.match(duration.lower())
    if match is None or int(match.group(1)) <= 0:
        raise InvalidRequest(
            f"duration {duration!r} is not like 30s, 12h, 30d, 1w, 1mo or -1 (never expires).",
            param="duration",
        )
    count, unit = int(match.group(1)), match.group(2)
    if unit == "mo":
        return _add_months(now, count)
    return now + timedelta(seconds=count * _EXPIRY_SECONDS[unit])


def _add_months(moment: datetime, months: int) -> datetime:
    index = moment.year * 12 + moment.month - 1 + months
    year, month = divmod(index, 12)
    day = min(moment.day, calendar.monthrange(year, month + 1)[1])
    return moment.replace(year=year, month=month + 1, day=day)
