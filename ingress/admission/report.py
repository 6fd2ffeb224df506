"""Turning counter snapshots into an :class:`AdmissionResult`, the same way for every backend.

The memory and Redis backends decide *whether* to admit (atomically, each in its own way); both
then describe the outcome through these functions, so refusals, retry times and headers are
identical whichever backend served the request.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from ingress.admission.limits import AdmissionRequest, Limit
from ingress.admission.result import (
    AdmissionResult,
    RateStatus,
    Refusal,
    RefusalKind,
    Reservation,
    SoftBudgetCrossing,
)
from ingress.admission.windows import EPOCH, RATE_WINDOW_S

__all__ = ["LimitCounts", "admitted", "rate_reset_s", "refusal_for", "refused"]

PARALLEL_RETRY_S = 1.0
"""Retry-After for a max_parallel refusal: a slot frees when any in-flight request ends."""


@dataclass(frozen=True, slots=True)
class LimitCounts:
    """One scope's counters as the backend saw them (before the request if refused, after if
    admitted), and whether this admission crossed its soft budget."""

    requests: int = 0
    tokens: int = 0
    projected_spend_micros: int = 0
    crossed_soft_budget: bool = False


def rate_reset_s(now: datetime) -> float:
    """Seconds until the current 60-second rate window ends."""
    into_window = (now - EPOCH) % timedelta(seconds=RATE_WINDOW_S)
    return RATE_WINDOW_S - into_window.total_seconds()


def refusal_for(limit: Limit, kind: RefusalKind, now: datetime) -> Refusal:
    """The refusal of ``limit`` by its ``kind`` limit, with when it frees up again."""
    if kind is RefusalKind.BUDGET:
        retry = None
        if limit.budget_duration is not None:
            retry = (limit.budget_window_end(now) - now).total_seconds()
        return Refusal(limit.scope, kind, limit.max_budget_micros or 0, retry)
    if kind is RefusalKind.MAX_PARALLEL:
        return Refusal(limit.scope, kind, limit.max_parallel or 0, PARALLEL_RETRY_S)
    value = limit.rpm if kind is RefusalKind.RPM else limit.tpm
    return Refusal(limit.scope, kind, value or 0, rate_reset_s(now))


def admitted(
    reservation: Reservation, counts: Sequence[LimitCounts], now: datetime
) -> AdmissionResult:
    """The result of an admission, with the headers and the soft budgets it crossed."""
    request = reservation.request
    crossings = tuple(
        SoftBudgetCrossing(
            scope=limit.scope,
            window_start=limit.budget_window_start(reservation.admitted_at),
            soft_budget_micros=limit.soft_budget_micros or 0,
            projected_spend_micros=count.projected_spend_micros,
        )
        for limit, count in zip(request.limits, counts, strict=True)
        if count.crossed_soft_budget
    )
    return AdmissionResult(reservation, None, _rate_status(request, counts, now), crossings)


def refused(
    request: AdmissionRequest, refusal: Refusal, counts: Sequence[LimitCounts], now: datetime
) -> AdmissionResult:
    """The result of a refusal; ``counts`` are the counters before this request."""
    return AdmissionResult(None, refusal, _rate_status(request, counts, now))


def _rate_status(
    request: AdmissionRequest, counts: Sequence[LimitCounts], now: datetime
) -> RateStatus:
    pairs = list(zip(request.limits, counts, strict=True))
    requests = _tightest((limit.rpm, count.requests) for limit, count in pairs)
    tokens = _tightest((limit.tpm, count.tokens) for limit, count in pairs)
    reset = rate_reset_s(now)
    return RateStatus(
        limit_requests=requests[1] if requests else None,
        remaining_requests=max(0, requests[0]) if requests else None,
        reset_requests_s=reset if requests else None,
        limit_tokens=tokens[1] if tokens else None,
        remaining_tokens=max(0, tokens[0]) if tokens else None,
        reset_tokens_s=reset if tokens else None,
    )


def _tightest(limits_and_used: Iterable[tuple[int | None, int]]) -> tuple[int, int] | None:
    """``(remaining, limit)`` of the limit with the least remaining, or None if none is set."""
    pairs = [(limit - used, limit) for limit, used in limits_and_used if limit is not None]
    return min(pairs) if pairs else None
