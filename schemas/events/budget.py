"""Budget alerts: facts the admission observed about a scope's spend (it never refuses for them)."""

from __future__ import annotations

from datetime import datetime

from schemas.events.envelope import EventPayload

__all__ = ["BudgetSoftLimitCrossed"]


class BudgetSoftLimitCrossed(EventPayload, frozen=True, kw_only=True):
    """A scope's spend, counting open reservations, reached its soft budget in this window.

    Reported once per scope, budget window and threshold: the event id derives from those three,
    so an instance that restarts (or a second instance) reporting the same crossing is stored once.
    """

    TYPE = "budget.soft_limit_crossed"
    VERSION = 1

    scope: str
    """The budgeted scope: ``key:<id>``, ``team:<id>``, ``enduser:<id>:model:<m>``..."""
    window_start: datetime
    """Start of the budget window the crossing happened in (UTC)."""
    soft_budget_micros: int
    """The threshold, in micro-dollars."""
    projected_spend_micros: int
    """Settled spend plus open reservations (this request's included) when it was crossed."""
    key_id: str | None = None
    """The key whose request crossed it."""
    model_requested: str = ""
