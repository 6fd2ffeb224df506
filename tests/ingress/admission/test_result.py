"""Refusals render as the errors and headers OpenAI clients understand."""

from __future__ import annotations

import pytest

from ingress.admission import (
    AdmissionRequest,
    AdmissionResult,
    Limit,
    RateStatus,
    Refusal,
    RefusalKind,
    Reservation,
)
from schemas.errors import BudgetExceeded, RateLimited, ServiceUnavailable

from .contract import NOW


def test_rate_headers_use_openai_duration_format() -> None:
    status = RateStatus(60, 0, 59.2, 1_000, 250, 0.3)
    assert status.headers() == {
        "x-ratelimit-limit-requests": "60",
        "x-ratelimit-remaining-requests": "0",
        "x-ratelimit-reset-requests": "1m0s",
        "x-ratelimit-limit-tokens": "1000",
        "x-ratelimit-remaining-tokens": "250",
        "x-ratelimit-reset-tokens": "1s",
    }
    assert RateStatus().headers() == {}


@pytest.mark.parametrize(
    ("kind", "error_type", "status", "retry_after"),
    [
        (RefusalKind.RPM, RateLimited, 429, "13"),
        (RefusalKind.TPM, RateLimited, 429, "13"),
        (RefusalKind.MAX_PARALLEL, RateLimited, 429, "13"),
        (RefusalKind.UNAVAILABLE, ServiceUnavailable, 503, "13"),
        (RefusalKind.BUDGET, BudgetExceeded, 429, None),
    ],
)
def test_each_refusal_kind_maps_to_its_error(
    kind: RefusalKind, error_type: type, status: int, retry_after: str | None
) -> None:
    result = AdmissionResult(
        None, Refusal("key:k1", kind, 2_500_000, 12.4), RateStatus(10, 0, 12.4)
    )
    error = result.to_error()
    assert type(error) is error_type
    assert error.status == status
    assert error.headers.get("Retry-After") == retry_after
    assert error.headers["x-ratelimit-remaining-requests"] == "0"
    if kind is RefusalKind.BUDGET:
        assert "2.500000 USD" in error.message and error.headers["x-should-retry"] == "false"


def test_an_admitted_result_has_no_error() -> None:
    reservation = Reservation("r1", AdmissionRequest(()), NOW, is_local=True)
    result = AdmissionResult(reservation)
    assert result.is_allowed
    with pytest.raises(ValueError, match="admitted"):
        result.to_error()


def test_reservation_closes_once() -> None:
    reservation = Reservation("r1", AdmissionRequest(()), NOW, is_local=True)
    assert reservation.close() is True
    assert reservation.close() is False


def test_admission_request_validates_its_plan() -> None:
    with pytest.raises(ValueError, match="once"):
        AdmissionRequest((Limit("key:k1"), Limit("key:k1")))
    with pytest.raises(ValueError, match="negative"):
        AdmissionRequest((), estimated_tokens=-1)
