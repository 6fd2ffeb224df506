"""Admission on the request path: every model call reserves its limits once, and settles after.

For each call, after authentication and the model access check and before the upstream call, the
gate collects every limit that applies (``ControlState.limits_for``: key, user, team, org member,
org and end user, each with its per-model scope), estimates the call's tokens and maximum cost
(``ReservationEstimator``) and makes ONE admission call: in process memory in standalone mode, or
one Redis script call in distributed mode. A refusal is recorded (``request.rejected`` with reason
``budget`` or ``rate_limit``) and raised as the client's error (429 with ``Retry-After``, a 429
``insufficient_quota`` the SDKs do not retry, or a 503 while Redis is unreachable and the policy
is to fail closed); nothing goes upstream. An admitted call holds a reservation that the chat
service settles with the actual cost and tokens when the call ends, however it ends (or releases,
when it failed before costing anything). The ``x-ratelimit-*`` headers go on the response either
way (``RateLimitHeaders``).

A call with no limits at all (the master key, keys without limits) skips the admission entirely.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from typing import Any

import falcon.asgi

from ingress.accounting import Accounting, RequestScope
from ingress.admission import (
    EPOCH,
    Admission,
    AdmissionRequest,
    AdmissionResult,
    FailurePolicy,
    RedisAdmission,
)
from ingress.admission_estimate import ReservationEstimator
from ingress.control import ControlState
from ingress.resources.health import CheckStatus, ReadinessCheck
from router_engine.providers import Operation
from schemas.errors import ServiceUnavailable

__all__ = ["AdmissionGate", "RateLimitHeaders", "admission_readiness"]

_PROBE_SCOPE = "__readiness_probe__"


def _utcnow() -> datetime:
    return datetime.now(UTC)


class AdmissionGate:
    """Admits each model call against its limits and settles it afterwards.

    Args:
        admission: the counters (``MemoryAdmission`` or ``RedisAdmission``).
        state: the control state the limits come from.
        estimator: tokens and maximum cost of a call.
        accounting: records refusals and soft budget alerts.
        clock: the current time (UTC-aware); it picks rate and budget windows.
    """

    def __init__(self, admission: Admission, state: ControlState, estimator: ReservationEstimator,
                 accounting: Accounting, *, clock: Callable[[], datetime] = _utcnow) -> None:
        self._admission = admission
        self._state = state
        self._estimator = estimator
        self._accounting = accounting
        self._clock = clock
        self._background: set[asyncio.Future[Any]] = set()

    async def admit(self, scope: RequestScope, body: Mapping[str, Any],
                    operation: Operation = "chat") -> None:
        """Reserve the call's limits, or raise the refusal (after recording it).

        On success ``scope.reservation`` holds what must be settled; ``scope.rate_headers`` is
        set whenever an rpm or tpm limit applies.

        Raises:
            RateLimited | BudgetExceeded | ServiceUnavailable: the call was refused.
        """
        limits = self._state.limits_for(scope.caller, scope.model_requested, scope.end_user)
        if not limits:
            return
        tokens = cost = 0
        if any(limit.tpm is not None or limit.has_budget for limit in limits):
            # PERF: counting the prompt is the costliest step; rpm/parallel-only calls skip it.
            tokens, cost = self._estimator.estimate(scope.model_requested, body, operation)
        result = await self._admission.admit(AdmissionRequest(limits, tokens, cost),
                                             self._clock())
        scope.rate_headers = result.headers()
        if result.reservation is None:
            self._refuse(scope, result)
        scope.reservation = result.reservation
        for crossing in result.soft_budget_crossings:
            self._accounting.soft_budget_crossed(scope, crossing)

    async def settle(self, scope: RequestScope, cost_micros: int, tokens: int) -> None:
        """Replace the call's reservation by what it actually cost (no-op if none is held)."""
        reservation = scope.reservation
        if reservation is None or reservation.is_closed:
            return
        if reservation.is_local:
            # NOTE: in memory it never suspends, so it cannot be interrupted
            await self._admission.settle(reservation, cost_micros, tokens, self._clock())
        else:
            # PERF: the response does not wait for Redis: until the settlement lands (within a
            # loop iteration or two) the reservation, never less than the actual cost, still
            # holds, so limits can only be stricter meanwhile, never looser. In the background
            # it also survives a cancelled request (client gone), and aclose() waits for it.
            pending = self._admission.settle_soon(reservation, cost_micros, tokens, self._clock())
            if pending is not None:
                self._track(pending)

    async def release(self, scope: RequestScope) -> None:
        """Give the reservation back: the call failed before it cost anything."""
        reservation = scope.reservation
        if reservation is not None and not reservation.is_closed:
            await asyncio.shield(self._admission.release(reservation))

    def release_soon(self, scope: RequestScope) -> None:
        """``release`` from a task being cancelled: in the background, without awaiting it."""
        if scope.reservation is None or scope.reservation.is_closed:
            return
        self._track(asyncio.ensure_future(self.release(scope)))

    async def wait_settled(self) -> None:
        """Until the settlements and releases running in the background have landed."""
        while self._background:
            await asyncio.gather(*self._background, return_exceptions=True)

    async def aclose(self) -> None:
        await self.wait_settled()

    def _track(self, pending: asyncio.Future[Any]) -> None:
        self._background.add(pending)
        pending.add_done_callback(self._background.discard)

    def _refuse(self, scope: RequestScope, result: AdmissionResult) -> None:
        assert result.refusal is not None
        error = result.to_error()
        self._accounting.refused(scope, error, result.refusal.kind)
        raise error


class RateLimitHeaders:
    """Falcon middleware: puts the admission's ``x-ratelimit-*`` headers on every model call's
    response (refusals carry them in their error already)."""

    async def process_response(self, req: falcon.asgi.Request, resp: falcon.asgi.Response,
                               resource: object, req_succeeded: bool) -> None:
        scope = getattr(req.context, "scope", None)
        if isinstance(scope, RequestScope) and scope.rate_headers:
            resp.set_headers(scope.rate_headers)


def admission_readiness(admission: Admission) -> ReadinessCheck:
    """The ``admission`` readiness check: ``ok``, or while Redis is unreachable, the policy in
    force: ``fail_open`` (still ready: local limits) or ``fail_closed`` (not ready: every call
    gets a 503)."""

    async def check() -> bool | CheckStatus:
        if not isinstance(admission, RedisAdmission):
            return True
        try:
            await admission.budget_spend(_PROBE_SCOPE, EPOCH)  # NOTE: one HMGET: Redis answers
        except ServiceUnavailable:
            is_open = admission.failure_policy is FailurePolicy.OPEN
            return CheckStatus(is_open, "fail_open" if is_open else "fail_closed")
        return True

    return check
