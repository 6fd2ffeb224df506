"""The admission package's public surface is pinned: other ingress code imports only these."""

from __future__ import annotations

import ingress.admission


def test_public_names() -> None:
    assert ingress.admission.__all__ == [
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
    for name in ingress.admission.__all__:
        assert getattr(ingress.admission, name) is not None
