"""Turning one finished request into its events: the terminal request event and the usage event.

The hot path only builds small frozen records and hands them to the outbox (``publish_nowait``,
never awaited), so recording costs microseconds and never waits for the bus or a database. The
admission's facts go the same way: a refusal is a ``request.rejected`` event (reason ``budget`` or
``rate_limit``), a crossed soft budget a ``budget.soft_limit_crossed`` alert.
"""

from __future__ import annotations

import time
from typing import Literal, Protocol

from ingress.admission import RefusalKind, Reservation, SoftBudgetCrossing
from ingress.auth import Caller
from ingress.metrics import GatewayMetrics
from router_engine import CallResult, Cost, Deployment, StreamCall
from schemas.errors import LLMuxError
from schemas.events import (
    BudgetSoftLimitCrossed,
    EventEnvelope,
    RequestCompleted,
    RequestFailed,
    RequestRejected,
    UsageRecorded,
    derive_event_id,
    request_event_id,
)
from schemas.ids import time_ordered_uuid
from schemas.token_usage import TokenUsage

__all__ = ["Accounting", "EventSink", "RequestScope"]

_REJECTION_REASONS: dict[RefusalKind, Literal["budget", "rate_limit"]] = {
    RefusalKind.BUDGET: "budget",
}
"""``request.rejected`` reasons by refusal; every other kind (503 included) is ``rate_limit``."""


class EventSink(Protocol):
    """Where events go: the outbox (``ledger.Outbox``)."""

    def publish_nowait(self, envelope: EventEnvelope) -> None: ...


class BackpressuredSink(EventSink, Protocol):
    """An event sink that can tell publishers to wait (``ledger.Outbox.wait_for_room``)."""

    async def wait_for_room(self) -> None: ...


class RequestScope:
    """What the accounting and the admission need to know about one request while it runs."""

    __slots__ = ("caller", "end_user", "endpoint", "event_key", "is_streaming",
                 "model_requested", "rate_headers", "request_id", "reservation", "started")

    def __init__(
        self, *, request_id: str, caller: Caller, endpoint: str, model_requested: str,
        is_streaming: bool, end_user: str | None = None,
    ) -> None:
        self.request_id = request_id
        self.event_key = time_ordered_uuid()
        """What the ids of this request's events derive from: unlike ``request_id`` (the
        client's ``x-request-id`` when it sent one), drawn by the gateway for this request only."""
        self.caller = caller
        self.endpoint = endpoint
        self.model_requested = model_requested
        self.is_streaming = is_streaming
        self.end_user = end_user
        """The request's ``user`` field (OpenAI's end user), if it named one."""
        self.reservation: Reservation | None = None
        """What the admission reserved for this request, until it is settled or released."""
        self.rate_headers: dict[str, str] = {}
        """The ``x-ratelimit-*`` headers the admission reported for this request."""
        self.started = time.perf_counter()

    def elapsed_ms(self) -> float:
        return round((time.perf_counter() - self.started) * 1000.0, 3)


class Accounting:
    """Publishes the events of finished requests."""

    def __init__(self, sink: BackpressuredSink, metrics: GatewayMetrics) -> None:
        self._sink = sink
        self._metrics = metrics

    async def wait_for_room(self) -> None:
        """Until the outbox has room: a request's events are queued before its response goes,
        and when the bus falls behind, responses slow down with it instead of the backlog
        growing without bound."""
        await self._sink.wait_for_room()

    def completed(self, scope: RequestScope, call: CallResult | StreamCall, cost: Cost,
                  usage: TokenUsage) -> None:
        deployment = call.deployment
        ttft_ms = call.ttft_ms if isinstance(call, StreamCall) else None
        self._usage(scope, deployment, usage, cost, is_partial=False)
        self._observe(scope, scope.model_requested, 200)
        self._publish(scope, RequestCompleted(
            key_id=scope.caller.key_id, endpoint=scope.endpoint,
            model_requested=scope.model_requested, is_streaming=scope.is_streaming,
            latency_ms=scope.elapsed_ms(), deployment=deployment.id,
            provider=deployment.provider_name, model=deployment.upstream_model,
            attempts=call.attempts, fallbacks=list(call.fallbacks), ttft_ms=ttft_ms,
        ))

    def failed(self, scope: RequestScope, error: LLMuxError, *, call: StreamCall | None = None,
               cost: Cost | None = None, usage: TokenUsage | None = None) -> None:
        """A request that reached the router and failed (before or during the response)."""
        deployment = call.deployment if call is not None else None
        if deployment is not None and cost is not None and usage is not None:
            self._usage(scope, deployment, usage, cost, is_partial=True)
        self._observe(scope, scope.model_requested, error.status)
        self._publish(scope, RequestFailed(
            key_id=scope.caller.key_id, endpoint=scope.endpoint,
            model_requested=scope.model_requested, is_streaming=scope.is_streaming,
            latency_ms=scope.elapsed_ms(),
            deployment=deployment.id if deployment else None,
            provider=deployment.provider_name if deployment else None,
            attempts=call.attempts if call else 1,
            fallbacks=list(call.fallbacks) if call else [],
            status_code=error.status, error_type=error.type, error_code=error.code,
            message=error.message[:500], ttft_ms=call.ttft_ms if call else None,
        ))

    def rejected(self, scope: RequestScope, error: LLMuxError, reason: str) -> None:
        """A request refused before any upstream call (validation, model access, limits)."""
        self._observe(scope, "-", error.status)  # NOTE: "-": a refused name may be anything
        self._publish(scope, RequestRejected(
            key_id=scope.caller.key_id, endpoint=scope.endpoint,
            model_requested=scope.model_requested, is_streaming=scope.is_streaming,
            latency_ms=scope.elapsed_ms(), reason=reason,  # type: ignore[arg-type]  # checked by msgspec on decode
            status_code=error.status, message=error.message[:500],
        ))

    def refused(self, scope: RequestScope, error: LLMuxError, kind: RefusalKind) -> None:
        """The admission refused the request (a limit, a budget, or its store is unreachable)."""
        self._metrics.observe_admission_refusal(kind.value)
        self.rejected(scope, error, _REJECTION_REASONS.get(kind, "rate_limit"))

    def soft_budget_crossed(self, scope: RequestScope, crossing: SoftBudgetCrossing) -> None:
        """An alert: the request took ``crossing.scope`` past its soft budget in this window."""
        self._metrics.observe_soft_budget_crossing(crossing.scope.split(":", 1)[0])
        payload = BudgetSoftLimitCrossed(
            scope=crossing.scope, window_start=crossing.window_start,
            soft_budget_micros=crossing.soft_budget_micros,
            projected_spend_micros=crossing.projected_spend_micros,
            key_id=scope.caller.key_id, model_requested=scope.model_requested,
        )
        # NOTE: one id per scope, window and threshold: a crossing reported again (after a
        # restart, or by another instance) is stored once.
        once = f"{crossing.scope}@{crossing.window_start.isoformat()}>{crossing.soft_budget_micros}"
        self._sink.publish_nowait(EventEnvelope.wrap(
            payload, actor=scope.caller.actor, request_id=scope.request_id,
            event_id=derive_event_id(once, payload.TYPE),
        ))

    def _usage(self, scope: RequestScope, deployment: Deployment, usage: TokenUsage, cost: Cost,
               *, is_partial: bool) -> None:
        key = scope.caller.key
        self._metrics.observe_usage(scope.model_requested, usage.prompt_tokens,
                                    usage.completion_tokens, cost.cost_micros)
        self._publish(scope, UsageRecorded(
            key_id=scope.caller.key_id,
            user_id=key.user_id if key else None,
            team_id=key.team_id if key else None,
            org_id=scope.caller.org_id,
            end_user=scope.end_user,
            model_requested=scope.model_requested, deployment=deployment.id,
            provider=deployment.provider_name, model=deployment.upstream_model,
            prompt_tokens=usage.prompt_tokens, completion_tokens=usage.completion_tokens,
            cached_tokens=usage.cached_tokens, reasoning_tokens=usage.reasoning_tokens,
            cost_micros=cost.cost_micros, price_version=cost.price_version,
            price_known=cost.price_known, usage_estimated=usage.is_estimated,
            is_partial=is_partial,
        ))

    def _observe(self, scope: RequestScope, model: str, status: int) -> None:
        self._metrics.observe_request(scope.endpoint, model, status, scope.elapsed_ms() / 1000.0)

    def _publish(self, scope: RequestScope, payload: RequestCompleted | RequestFailed
                 | RequestRejected | UsageRecorded) -> None:
        self._sink.publish_nowait(EventEnvelope.wrap(
            payload, actor=scope.caller.actor, request_id=scope.request_id,
            event_id=request_event_id(scope.event_key, payload.TYPE),
        ))
