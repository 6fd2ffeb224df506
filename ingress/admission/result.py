"""The outcome of one admission: a reservation to settle, or the first refusal, plus the headers.

A refusal names the scope and the limit that refused, so the request event can say why, and turns
itself into the error the client sees (:meth:`AdmissionResult.to_error`): a 429 ``RateLimited``
with ``Retry-After``, a 429 ``BudgetExceeded`` the SDKs never retry, or a 503 when the shared
limit store is unreachable and the policy is to fail closed.
"""

from __future__ import annotations

import functools
import math
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import NamedTuple

from ingress.admission.limits import AdmissionRequest
from schemas.errors import BudgetExceeded, LLMuxError, RateLimited, ServiceUnavailable
from schemas.money import format_usd

__all__ = [
    "NO_RATE_LIMITS",
    "AdmissionResult",
    "BudgetSpend",
    "RateStatus",
    "Refusal",
    "RefusalKind",
    "Reservation",
    "SoftBudgetCrossing",
]


class RefusalKind(StrEnum):
    """Which limit refused. ``request.rejected`` events map BUDGET to ``budget``, UNAVAILABLE to
    a 503, and the rest to ``rate_limit``."""

    BUDGET = "budget"
    RPM = "rpm"
    TPM = "tpm"
    MAX_PARALLEL = "max_parallel"
    UNAVAILABLE = "unavailable"


@dataclass(frozen=True, slots=True)
class Refusal:
    """The first limit that refused the request.

    Attributes:
        scope: the refusing scope (``key:abc``); empty for UNAVAILABLE.
        kind: which limit refused.
        limit: the configured value of that limit (requests, tokens, slots or micro-dollars).
        retry_after_s: when the limit frees up again, if known (the window's end for rpm/tpm and
            budgets with a duration; None for a lifetime budget).
    """

    scope: str
    kind: RefusalKind
    limit: int = 0
    retry_after_s: float | None = None

    @property
    def is_budget(self) -> bool:
        return self.kind is RefusalKind.BUDGET


class RateStatus(NamedTuple):
    """The tightest rpm and tpm across the request's scopes, for the ``x-ratelimit-*`` headers.

    PERF: a named tuple, built once per governed request (a frozen dataclass costs twice as much).
    """

    limit_requests: int | None = None
    remaining_requests: int | None = None
    reset_requests_s: float | None = None
    limit_tokens: int | None = None
    remaining_tokens: int | None = None
    reset_tokens_s: float | None = None

    def headers(self) -> dict[str, str]:
        """The OpenAI-style ``x-ratelimit-*`` headers for the limits that apply."""
        headers: dict[str, str] = {}
        if self.limit_requests is not None:
            headers["x-ratelimit-limit-requests"] = str(self.limit_requests)
            headers["x-ratelimit-remaining-requests"] = str(max(0, self.remaining_requests or 0))
            headers["x-ratelimit-reset-requests"] = _format_reset(self.reset_requests_s)
        if self.limit_tokens is not None:
            headers["x-ratelimit-limit-tokens"] = str(self.limit_tokens)
            headers["x-ratelimit-remaining-tokens"] = str(max(0, self.remaining_tokens or 0))
            headers["x-ratelimit-reset-tokens"] = _format_reset(self.reset_tokens_s)
        return headers


NO_RATE_LIMITS = RateStatus()
"""The status of a request no rpm or tpm limit applies to (no ``x-ratelimit-*`` headers)."""


@dataclass(frozen=True, slots=True)
class SoftBudgetCrossing:
    """A scope's projected spend reached its soft budget in this window (reported once per window).

    Attributes:
        scope: the scope whose soft budget was crossed.
        window_start: start of the budget window it was crossed in.
        soft_budget_micros: the threshold.
        projected_spend_micros: settled spend + open reservations, this request included.
    """

    scope: str
    window_start: datetime
    soft_budget_micros: int
    projected_spend_micros: int


@dataclass(frozen=True, slots=True)
class BudgetSpend:
    """One budget window's counters: settled spend and the sum of open reservations."""

    spent_micros: int = 0
    reserved_micros: int = 0


class Reservation:
    """What an admitted request holds until it is settled or released.

    Settling or releasing twice is a no-op, so a caller's ``finally`` can always release.

    Attributes:
        id: unique id of this reservation (names its parallel slot and budget lease).
        request: the admission plan it was admitted under (settle uses the same scopes).
        admitted_at: the ``now`` of the admission; it fixes the rate and budget windows that the
            reservation is settled into.
        is_local: True when held in process memory (standalone, or a fail-open fallback).
    """

    __slots__ = ("admitted_at", "id", "is_closed", "is_local", "request")

    def __init__(
        self, id: str, request: AdmissionRequest, admitted_at: datetime, *, is_local: bool
    ) -> None:
        self.id = id
        self.request = request
        self.admitted_at = admitted_at
        self.is_local = is_local
        self.is_closed = False

    def close(self) -> bool:
        """Mark the reservation settled; False if it already was (the caller then does nothing)."""
        if self.is_closed:
            return False
        self.is_closed = True
        return True


@dataclass(frozen=True, slots=True)
class AdmissionResult:
    """Allowed (with a reservation to settle) or refused (with the first refusal).

    Attributes:
        reservation: set when the request was admitted.
        refusal: set when it was refused.
        rate: remaining/reset values of the tightest rpm and tpm limits.
        soft_budget_crossings: soft budgets this admission crossed (emit one alert each).
    """

    reservation: Reservation | None
    refusal: Refusal | None = None
    rate: RateStatus = NO_RATE_LIMITS
    soft_budget_crossings: tuple[SoftBudgetCrossing, ...] = ()

    @property
    def is_allowed(self) -> bool:
        return self.reservation is not None

    def headers(self) -> dict[str, str]:
        """The ``x-ratelimit-*`` headers to send with the response, allowed or not."""
        return self.rate.headers()

    def to_error(self) -> LLMuxError:
        """The client-facing error for a refusal, with ``Retry-After`` and rate headers set.

        Raises:
            ValueError: the request was admitted.
        """
        if self.refusal is None:
            raise ValueError("an admitted request has no error")
        error = _refusal_error(self.refusal)
        error.headers.update(self.rate.headers())
        return error


def _refusal_error(refusal: Refusal) -> LLMuxError:
    if refusal.kind is RefusalKind.BUDGET:
        return BudgetExceeded(
            f"Budget exceeded for {refusal.scope}: max budget "
            f"{format_usd(refusal.limit)} USD for the current budget window"
        )
    if refusal.kind is RefusalKind.UNAVAILABLE:
        return ServiceUnavailable(
            "Rate limits cannot be checked right now; try again shortly",
            retry_after_s=refusal.retry_after_s,
        )
    return RateLimited(
        f"Rate limit exceeded for {refusal.scope}: {refusal.kind.value} limit {refusal.limit}",
        retry_after_s=refusal.retry_after_s,
    )


def _format_reset(seconds: float | None) -> str:
    return _reset_text(max(0, math.ceil(seconds or 0)))


@functools.lru_cache(maxsize=128)
def _reset_text(whole_seconds: int) -> str:
    """``"1m0s"``, ``"59s"``: as OpenAI writes its reset headers. PERF: cached, since a rate
    window's reset is under a minute and the same few dozen strings recur on every response."""
    minutes, rest = divmod(whole_seconds, 60)
    return f"{minutes}m{rest}s" if minutes else f"{rest}s"
