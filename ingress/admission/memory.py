"""Standalone admission: every counter in process memory, atomic because nothing awaits inside.

The event loop runs one coroutine step at a time, so a check-then-reserve sequence without an
``await`` in the middle cannot interleave with another request's: :meth:`MemoryAdmission.admit`
is as atomic here as the Lua script is in Redis. The same class is the fail-open fallback of
:class:`~ingress.admission.redis_admission.RedisAdmission`.
"""

from __future__ import annotations

from datetime import datetime

from ingress.admission.base import DEFAULT_LEASE_S, Admission
from ingress.admission.limits import AdmissionRequest, Limit
from ingress.admission.report import LimitCounts, admitted, refusal_for, refused
from ingress.admission.result import (
    AdmissionResult,
    BudgetSpend,
    RefusalKind,
    Reservation,
)
from ingress.admission.windows import RATE_WINDOW_S, epoch_us
from schemas.ids import random_hex_id

__all__ = ["MemoryAdmission"]

_SWEEP_EVERY_MS = RATE_WINDOW_S * 1000
_SEED_RETENTION_MS = 62 * 86400 * 1000


class _RateCounter:
    __slots__ = ("requests", "tokens", "window_s")

    def __init__(self, window_s: int) -> None:
        self.window_s = window_s
        self.requests = 0
        self.tokens = 0


class _BudgetWindow:
    """One scope's budget counters for one window; ``leases`` maps id -> (micros, expires_ms)."""

    __slots__ = ("expires_ms", "leases", "reserved", "soft_crossed", "spent")

    def __init__(self, expires_ms: int | None) -> None:
        self.spent = 0
        self.reserved = 0
        self.leases: dict[str, tuple[int, int]] = {}
        self.soft_crossed = False
        self.expires_ms = expires_ms

    def expire_leases(self, now_ms: int) -> None:
        # PERF: leases are inserted in expiry order (now + lease_s), so only the oldest are looked
        # at. NOTE: if callers pass times out of order, a stale lease waits for the next sweep.
        while self.leases:
            lease_id, (micros, expires_ms) = next(iter(self.leases.items()))
            if expires_ms > now_ms:
                return
            self.reserved -= micros
            del self.leases[lease_id]


class MemoryAdmission(Admission):
    """Admission with in-process counters (standalone mode, and Redis's fail-open fallback).

    Args:
        lease_s: how long an unsettled reservation holds its parallel slot and budget.
    """

    def __init__(self, *, lease_s: float = DEFAULT_LEASE_S) -> None:
        self._lease_ms = int(lease_s * 1000)
        self._rates: dict[str, _RateCounter] = {}
        self._slots: dict[str, dict[str, int]] = {}
        self._budgets: dict[tuple[str, int], _BudgetWindow] = {}
        self._next_sweep_ms = 0

    async def admit(self, request: AdmissionRequest, now: datetime) -> AdmissionResult:
        # NOTE: no await from here to the return: that is what makes the admission atomic.
        now_us = epoch_us(now)
        self._sweep(now_us // 1000)
        seen = [self._inspect(limit, request, now_us) for limit in request.limits]
        for limit, (_, kind, _) in zip(request.limits, seen, strict=True):
            if kind is not None:
                counts = [count for count, _, _ in seen]
                return refused(request, refusal_for(limit, kind, now), counts, now)
        reservation = Reservation(random_hex_id(), request, now, is_local=True)
        counts = [
            self._reserve(limit, reservation, count, window, now_us)
            for limit, (count, _, window) in zip(request.limits, seen, strict=True)
        ]
        return admitted(reservation, counts, now)

    async def settle(
        self,
        reservation: Reservation,
        actual_cost_micros: int,
        actual_tokens: int,
        now: datetime,
    ) -> None:
        if reservation.close():
            self._unreserve(reservation, actual_cost_micros, actual_tokens)

    async def release(self, reservation: Reservation) -> None:
        if reservation.close():
            self._unreserve(reservation, 0, 0)

    async def seed_spend(self, scope: str, window_start: datetime, spent_micros: int) -> None:
        start_us = epoch_us(window_start)
        window = self._budgets.get((scope, start_us))
        if window is None:
            expires = None if start_us == 0 else start_us // 1000 + _SEED_RETENTION_MS
            window = self._budgets[(scope, start_us)] = _BudgetWindow(expires)
        window.spent = max(window.spent, spent_micros)

    async def budget_spend(self, scope: str, window_start: datetime) -> BudgetSpend:
        window = self._budgets.get((scope, epoch_us(window_start)))
        if window is None:
            return BudgetSpend()
        return BudgetSpend(window.spent, window.reserved)

    def tracked_counters(self) -> int:
        """How many rate, parallel and budget counters are held: a gauge of memory use."""
        return len(self._rates) + len(self._slots) + len(self._budgets)

    def _inspect(
        self, limit: Limit, request: AdmissionRequest, now_us: int
    ) -> tuple[LimitCounts, RefusalKind | None, _BudgetWindow | None]:
        now_ms, rate_s = now_us // 1000, _rate_window_s(now_us)
        rate = self._rates.get(limit.scope)
        is_current = rate is not None and rate.window_s == rate_s
        requests, tokens = (rate.requests, rate.tokens) if rate and is_current else (0, 0)
        committed, crossed, window = 0, False, None
        if limit.has_budget:
            window = self._budget_window(limit, now_us)
            window.expire_leases(now_ms)
            committed = window.spent + window.reserved
            projected = committed + request.reserved_cost_micros
            soft = limit.soft_budget_micros
            crossed = soft is not None and not window.soft_crossed and projected >= soft
        slots = self._live_slots(limit, now_ms)
        kind = _exceeded(limit, request, requests, tokens, committed, slots)
        return LimitCounts(requests, tokens, committed, crossed), kind, window

    def _reserve(
        self,
        limit: Limit,
        reservation: Reservation,
        seen: LimitCounts,
        window: _BudgetWindow | None,
        now_us: int,
    ) -> LimitCounts:
        request, expires_ms = reservation.request, now_us // 1000 + self._lease_ms
        requests = tokens = projected = 0
        if limit.has_rate:
            rate_s = _rate_window_s(now_us)
            rate = self._rates.get(limit.scope)
            if rate is None or rate.window_s != rate_s:
                rate = self._rates[limit.scope] = _RateCounter(rate_s)
            rate.requests += 1
            rate.tokens += request.estimated_tokens
            requests, tokens = rate.requests, rate.tokens
        if limit.max_parallel is not None:
            self._slots.setdefault(limit.scope, {})[reservation.id] = expires_ms
        if window is not None:
            window.reserved += request.reserved_cost_micros
            window.leases[reservation.id] = (request.reserved_cost_micros, expires_ms)
            window.soft_crossed = window.soft_crossed or seen.crossed_soft_budget
            projected = window.spent + window.reserved
        return LimitCounts(requests, tokens, projected, seen.crossed_soft_budget)

    def _unreserve(self, reservation: Reservation, cost_micros: int, tokens: int) -> None:
        request, admitted_us = reservation.request, epoch_us(reservation.admitted_at)
        rate_s = _rate_window_s(admitted_us)
        for limit in request.limits:
            rate = self._rates.get(limit.scope)
            if limit.has_rate and rate is not None and rate.window_s == rate_s:
                rate.tokens += tokens - request.estimated_tokens
            slots = self._slots.get(limit.scope)
            if slots is not None:
                slots.pop(reservation.id, None)
            if limit.has_budget:
                window = self._budget_window(limit, admitted_us)
                lease = window.leases.pop(reservation.id, None)
                window.reserved -= lease[0] if lease else 0
                window.spent += cost_micros

    def _budget_window(self, limit: Limit, at_us: int) -> _BudgetWindow:
        start_us, end_us = limit.budget_bounds_us(at_us)
        window = self._budgets.get((limit.scope, start_us))
        if window is None:
            window = self._budgets[(limit.scope, start_us)] = _BudgetWindow(None)
        if limit.budget_duration is not None:
            window.expires_ms = end_us // 1000 + limit.budget_retention_s() * 1000
        return window

    def _live_slots(self, limit: Limit, now_ms: int) -> int:
        slots = self._slots.get(limit.scope)
        if limit.max_parallel is None or not slots:
            return 0
        while slots:  # PERF: slots are in expiry order, as in _BudgetWindow.expire_leases
            slot_id, expires_ms = next(iter(slots.items()))
            if expires_ms > now_ms:
                break
            del slots[slot_id]
        return len(slots)

    def _sweep(self, now_ms: int) -> None:
        """Drop counters whose window is over, once a minute, so memory stays bounded."""
        if now_ms < self._next_sweep_ms:
            return
        self._next_sweep_ms = now_ms + _SWEEP_EVERY_MS
        oldest_rate_s = (now_ms // 1000) - 2 * RATE_WINDOW_S
        self._rates = {s: r for s, r in self._rates.items() if r.window_s >= oldest_rate_s}
        for slots in self._slots.values():
            for slot_id in [i for i, expires in slots.items() if expires <= now_ms]:
                del slots[slot_id]
        self._slots = {scope: slots for scope, slots in self._slots.items() if slots}
        for window in self._budgets.values():
            window.expire_leases(now_ms)
        self._budgets = {k: w for k, w in self._budgets.items() if not _is_finished(w, now_ms)}


def _exceeded(
    limit: Limit,
    request: AdmissionRequest,
    requests: int,
    tokens: int,
    committed_micros: int,
    slots: int,
) -> RefusalKind | None:
    """The first of the scope's limits this request would exceed (budget, rpm, tpm, parallel)."""
    budget = limit.max_budget_micros
    if budget is not None and committed_micros + request.reserved_cost_micros > budget:
        return RefusalKind.BUDGET
    if limit.rpm is not None and requests + 1 > limit.rpm:
        return RefusalKind.RPM
    # NOTE: an empty token window admits one request even if its estimate alone exceeds tpm;
    # otherwise a large max_tokens would lock the caller out forever (same rule in the Lua).
    if limit.tpm is not None and tokens > 0 and tokens + request.estimated_tokens > limit.tpm:
        return RefusalKind.TPM
    if limit.max_parallel is not None and slots >= limit.max_parallel:
        return RefusalKind.MAX_PARALLEL
    return None


def _rate_window_s(now_us: int) -> int:
    seconds = now_us // 1_000_000
    return seconds - seconds % RATE_WINDOW_S


def _is_finished(window: _BudgetWindow, now_ms: int) -> bool:
    return window.expires_ms is not None and window.expires_ms < now_ms and not window.leases
