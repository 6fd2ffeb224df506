"""The admission interface: reserve every limit of a request at once, then settle or release.

Lifecycle of one request::

    result = await admission.admit(request, now)      # all limits, all-or-nothing
    if not result.is_allowed:
        raise result.to_error()                       # 429 / 429 insufficient_quota / 503
    try:
        ... call upstream ...
        await admission.settle(result.reservation, cost_micros, total_tokens, now)
    finally:
        await admission.release(result.reservation)   # no-op once settled

Every backend gives the same guarantees (a contract test runs against each):

- **Atomic, all-or-nothing.** Either every limit of the request is reserved or none is; a refused
  request leaves no trace in any counter.
- **Budgets cannot be overspent by concurrency.** A request is admitted only when
  ``spent + reserved + this reservation <= max_budget`` for every hard budget of the window, so
  concurrent requests never reserve past it; settling replaces a reservation by the actual cost
  (which can only exceed the reservation if the caller under-estimated the maximum cost).
- **Exact rate windows.** An rpm limit of R admits exactly R requests per fixed 60-second window;
  a tpm limit reserves the estimated tokens and settles the difference into the same window.
- **Nothing leaks.** Parallel slots and budget reservations are leases that expire after
  ``lease_s`` if a process dies before settling; every counter expires once its window is over.
"""

from __future__ import annotations

import asyncio
from abc import ABC, abstractmethod
from datetime import datetime

from ingress.admission.limits import AdmissionRequest
from ingress.admission.result import AdmissionResult, BudgetSpend, Reservation

__all__ = ["DEFAULT_LEASE_S", "Admission"]

DEFAULT_LEASE_S = 900.0
"""How long an unsettled reservation holds its parallel slot and budget reservation: longer than
any sane request (streams included), short enough that a crashed process's holds come back."""


class Admission(ABC):
    """Rate limits and budget reservations on the hot path (in memory, or one Redis round trip)."""

    @abstractmethod
    async def admit(self, request: AdmissionRequest, now: datetime) -> AdmissionResult:
        """Check and reserve every limit of ``request`` together, all-or-nothing.

        Args:
            request: the limits that apply and the request's token / cost estimates.
            now: the current time (UTC-aware); it picks the rate and budget windows.

        Returns:
            An allowed result holding a :class:`Reservation`, or the first refusal. A backend
            that cannot reach its store refuses with ``RefusalKind.UNAVAILABLE`` (fail closed)
            or admits against local limits (fail open); it never raises for that.
        """

    @abstractmethod
    async def settle(
        self,
        reservation: Reservation,
        actual_cost_micros: int,
        actual_tokens: int,
        now: datetime,
    ) -> None:
        """Replace the reservation by the actual cost and tokens, and free its parallel slot.

        The actual cost is counted in the budget window the request was admitted in, and the
        token difference in its rate window. Settling twice (or after a release) does nothing.

        Args:
            reservation: what :meth:`admit` returned.
            actual_cost_micros: the request's real cost (0 if it failed upstream).
            actual_tokens: prompt + completion tokens actually used.
            now: the current time (UTC-aware); used for counter expiry only.
        """

    def settle_soon(
        self,
        reservation: Reservation,
        actual_cost_micros: int,
        actual_tokens: int,
        now: datetime,
    ) -> asyncio.Future[object] | None:
        """:meth:`settle` without waiting for it: the future of the work on its way, if any.

        The future never fails: a settlement that cannot be stored now is handled as
        :meth:`settle` handles it.
        """
        return asyncio.ensure_future(
            self.settle(reservation, actual_cost_micros, actual_tokens, now))

    @abstractmethod
    async def release(self, reservation: Reservation) -> None:
        """Undo a reservation for a request that failed before incurring any cost.

        Frees the budget reservation, the reserved tokens and the parallel slot. The request
        still counts against rpm: it was a request. A no-op once settled or released.
        """

    @abstractmethod
    async def seed_spend(self, scope: str, window_start: datetime, spent_micros: int) -> None:
        """Raise a budget window's settled spend to at least ``spent_micros`` (set-if-greater).

        Called at startup with the spend projection's totals so budgets hold across restarts;
        idempotent, and never lowers spend counted since.
        """

    @abstractmethod
    async def budget_spend(self, scope: str, window_start: datetime) -> BudgetSpend:
        """The settled spend and open reservations of one budget window."""

    @property
    def is_degraded(self) -> bool:
        """True while the shared limit store is unreachable and the failure policy applies."""
        return False

    async def start(self) -> None:  # noqa: B027 (optional hook: most backends hold nothing)
        """Check the backing store answers, so a bad setup fails at startup, not per request.

        Raises:
            ServiceUnavailable: the store is unreachable (the message names it, no credentials).
        """

    async def aclose(self) -> None:  # noqa: B027 (optional hook: most backends hold nothing)
        """Release connections; the object is unusable afterwards."""
