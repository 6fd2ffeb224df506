"""What one request must be admitted against: every limit that applies to it, plus its estimates.

The caller (auth + model access) builds one :class:`AdmissionRequest` per request, listing a
:class:`Limit` per scope that constrains it: the key, its team, user, org, the end user, and the
per-model variants (``key:abc:model:gpt-4o``). The admission checks and reserves them all together.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from ingress.admission.windows import (
    EPOCH,
    BudgetDuration,
    epoch_us,
    from_epoch_us,
    window_bounds_us,
)

__all__ = ["AdmissionRequest", "Limit"]


@dataclass(frozen=True, slots=True)
class Limit:
    """The limits of one scope. Every limit is optional; None means "no limit of that kind".

    Attributes:
        scope: a stable name for the limited entity: ``key:abc``, ``team:t1``, ``user:u``,
            ``org:o``, ``enduser:x``, ``key:abc:model:gpt-4o``. It names the counters, so it
            must not change for the life of the entity.
        rpm: requests per 60-second window.
        tpm: tokens per 60-second window (estimated at admission, settled to the actual).
        max_parallel: requests in flight at once.
        max_budget_micros: hard budget per budget window, in micro-dollars.
        soft_budget_micros: alert threshold per budget window, in micro-dollars (never refuses).
        budget_duration: window length of both budgets; None is a lifetime budget.
        budget_anchor: the entity's creation time, which fixed-length windows are aligned to.
    """

    scope: str
    rpm: int | None = None
    tpm: int | None = None
    max_parallel: int | None = None
    max_budget_micros: int | None = None
    soft_budget_micros: int | None = None
    budget_duration: BudgetDuration | None = None
    budget_anchor: datetime = EPOCH
    _anchor_us: int = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        # PERF: converted once per limit, not once per request and scope.
        object.__setattr__(self, "_anchor_us", epoch_us(self.budget_anchor))

    @property
    def has_budget(self) -> bool:
        """Whether this scope's spend is counted (a hard or a soft budget is set)."""
        return self.max_budget_micros is not None or self.soft_budget_micros is not None

    @property
    def has_rate(self) -> bool:
        return self.rpm is not None or self.tpm is not None

    def budget_window_start(self, now: datetime) -> datetime:
        """Start of the budget window containing ``now``: the key of its spend counter."""
        return from_epoch_us(self.budget_bounds_us(epoch_us(now))[0])

    def budget_window_end(self, now: datetime) -> datetime:
        return from_epoch_us(self.budget_bounds_us(epoch_us(now))[1])

    def budget_bounds_us(self, now_us: int) -> tuple[int, int]:
        """``(start, end)`` in epoch microseconds of the budget window containing ``now_us``."""
        return window_bounds_us(self.budget_duration, now_us, self._anchor_us)

    def budget_retention_s(self) -> int:
        """How long a finished window's counter is kept: one window length (at least an hour)."""
        duration = self.budget_duration
        if duration is None:
            return 0
        length_s = duration.months * 31 * 86400 if duration.is_calendar else duration.seconds
        return max(length_s, 3600)


@dataclass(frozen=True, slots=True)
class AdmissionRequest:
    """One request's admission plan.

    Attributes:
        limits: every scope's limits that apply; checked in this order, so the first refusal
            reported is the first listed scope that refuses.
        estimated_tokens: the prompt estimate plus ``max_tokens``; reserved against tpm limits.
        reserved_cost_micros: the maximum cost the request can incur (estimated tokens at the
            deployment's price); reserved against hard budgets.
    """

    limits: tuple[Limit, ...]
    estimated_tokens: int = 0
    reserved_cost_micros: int = 0

    def __post_init__(self) -> None:
        if self.estimated_tokens < 0 or self.reserved_cost_micros < 0:
            raise ValueError("estimated_tokens and reserved_cost_micros must not be negative")
        limits = self.limits
        if len(limits) > 1 and len({limit.scope for limit in limits}) != len(limits):
            # NOTE: two limits on one scope would share counters and double-count the request.
            raise ValueError("each scope may appear only once in an admission request")
