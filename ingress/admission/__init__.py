"""Admission: rate limits and budget reservations on the hot path.

Owns the ``rpm`` / ``tpm`` / ``max_parallel`` limits and the hard and soft budgets of every scope
(key, user, team, org, end user, and their per-model variants). A request is admitted against all
of them at once: in process memory in standalone mode (:class:`MemoryAdmission`), or in one Redis
script call shared by every instance in distributed mode (:class:`RedisAdmission`). Budgets
reserve the request's maximum cost and settle to the actual; windows are arithmetic over time
(:func:`window_start`), so no job ever resets spend.

Imports ``schemas`` and ``redis`` only; the rest of ``ingress`` builds :class:`AdmissionRequest`
objects and turns :class:`AdmissionResult` refusals into responses.
"""

from ingress.admission.base import DEFAULT_LEASE_S, Admission
from ingress.admission.limits import AdmissionRequest, Limit
from ingress.admission.memory import MemoryAdmission
from ingress.admission.outage import FailurePolicy
from ingress.admission.redis_admission import RedisAdmission
from ingress.admission.result import (
    AdmissionResult,
    BudgetSpend,
    RateStatus,
    Refusal,
    RefusalKind,
    Reservation,
    SoftBudgetCrossing,
)
from ingress.admission.windows import (
    EPOCH,
    BudgetDuration,
    parse_budget_duration,
    window_end,
    window_start,
)

__all__ = [
    "DEFAULT_LEASE_S",
    "EPOCH",
    "Admission",
    "AdmissionRequest",
    "AdmissionResult",
    "BudgetDuration",
    "BudgetSpend",
    "FailurePolicy",
    "Limit",
    "MemoryAdmission",
    "RateStatus",
    "RedisAdmission",
    "Refusal",
    "RefusalKind",
    "Reservation",
    "SoftBudgetCrossing",
    "parse_budget_duration",
    "window_end",
    "window_start",
]
