"""The chat completions service: the hot path between a parsed request and the router.

Model access is checked before routing; then the admission gate reserves the call's rate limits
and budgets (or refuses it, before anything goes upstream); the router picks and calls the
deployment; the result's usage is priced, settled against the reservation and recorded. Streams
are pumped frame by frame from ``pump``, which settles usage in its ``finally`` so a stream that
ends any way at all (done, upstream error, client gone) is settled and recorded, with what was
consumed until then. A call that fails before any cost releases its reservation instead.

Every endpoint goes through this service: chat and legacy completions and embeddings directly
(``operation``), ``/v1/messages`` and ``/v1/responses`` after translating to chat. Those two
rewrite the chat stream into their own events through a ``StreamFormat`` given to ``pump``.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from typing import Any, Protocol

from ingress.accounting import Accounting, RequestScope
from ingress.admission_gate import AdmissionGate
from ingress.auth import Caller
from ingress.sse import DONE_FRAME, RawFrame, error_frame
from router_engine import CallResult, Cost, Router, StreamCall
from router_engine.providers import Operation
from schemas.errors import LLMuxError, UpstreamError
from schemas.token_usage import TokenUsage

__all__ = ["CallRequest", "ChatService", "StreamFormat"]

_log = logging.getLogger("llmux.ingress")


class CallRequest(Protocol):
    """What ``begin`` reads of a validated request (``schemas.openai`` request types)."""

    @property
    def model(self) -> str: ...

    @property
    def is_streaming(self) -> bool: ...


class StreamFormat(Protocol):
    """Rewrites the router's OpenAI chat frames into another API's stream events."""

    def feed(self, frame: bytes) -> list[bytes]:
        """Events for one upstream frame (possibly none)."""

    def finish(self) -> list[bytes]:
        """Closing events owed after a stream that ended normally (idempotent)."""

    def error(self, error: LLMuxError) -> list[bytes]:
        """The events that end a broken stream in this format."""


class ChatService:
    """The calls of every model endpoint.

    Args:
        router: routes and prices calls.
        accounting: records each call's events.
        gate: admits each call against its rate limits and budgets; None admits everything
            (for tests of the services alone).
    """

    def __init__(self, router: Router, accounting: Accounting,
                 gate: AdmissionGate | None = None) -> None:
        self._router = router
        self._accounting = accounting
        self._gate = gate

    def begin(self, request_id: str, caller: Caller, request: CallRequest,
              endpoint: str = "chat.completions") -> RequestScope:
        """Check the model exists and the caller may use it; raises before any upstream call."""
        # NOTE: every request type the services validate carries OpenAI's ``user`` (end user).
        end_user = getattr(request, "user", None)
        caller.check_model(request.model, end_user=end_user)
        self._router.resolve(request.model)
        return RequestScope(request_id=request_id, caller=caller, endpoint=endpoint,
                            model_requested=request.model, is_streaming=request.is_streaming,
                            end_user=end_user if isinstance(end_user, str) else None)

    async def complete(self, scope: RequestScope, body: dict[str, Any],
                       operation: Operation = "chat") -> tuple[CallResult, Cost]:
        """Admit, call upstream, settle and record; raises the refusal or the upstream error."""
        await self._admit(scope, body, operation)
        try:
            result = await self._router.complete(body, model=scope.model_requested,
                                                 operation=operation)
        except BaseException as exc:
            await self._not_served(scope, exc)
            raise
        cost = self._router.price(result.deployment, result.usage)
        await self._settle_cost(scope, cost, result.usage)
        self._accounting.completed(scope, result, cost, result.usage)
        await self._accounting.wait_for_room()
        return result, cost

    async def open_stream(self, scope: RequestScope, body: dict[str, Any],
                          operation: Operation = "chat") -> StreamCall:
        """Admit and connect upstream; errors here still become a normal HTTP error response."""
        await self._admit(scope, body, operation)
        try:
            return await self._router.open_stream(body, model=scope.model_requested,
                                                  operation=operation)
        except BaseException as exc:
            await self._not_served(scope, exc)
            raise

    async def pump(self, scope: RequestScope, call: StreamCall,
                   fmt: StreamFormat | None = None) -> AsyncIterator[RawFrame]:
        """The SSE body: upstream frames unchanged (or rewritten by ``fmt``), then settlement
        whatever happened, then the end the format owes (an error event for a broken stream)."""
        error: LLMuxError | None = None
        try:
            if fmt is None:
                async for frame in call:
                    yield RawFrame(frame)
            else:
                async for frame in call:
                    for event in fmt.feed(frame):
                        yield RawFrame(event)
            if not call.is_complete:
                error = UpstreamError("The upstream stream ended before it was complete.",
                                      code="stream_truncated")
        except LLMuxError as exc:
            error = exc
        except Exception:
            _log.exception("stream pump failed", extra={"request_id": scope.request_id})
            error = LLMuxError("The gateway failed while streaming the response.")
        except (asyncio.CancelledError, GeneratorExit):
            error = LLMuxError("Client disconnected before the stream finished.",
                               code="client_disconnected")
            raise
        finally:
            await self._settle(scope, call, error)
        for event in _ending(fmt, error):
            yield RawFrame(event)

    async def _settle(self, scope: RequestScope, call: StreamCall,
                      error: LLMuxError | None) -> None:
        try:
            await call.aclose()
        finally:
            usage = call.usage
            cost = self._router.price(call.deployment, usage)
            await self._settle_cost(scope, cost, usage)
            if error is None:
                self._accounting.completed(scope, call, cost, usage)
            else:
                self._accounting.failed(scope, error, call=call, cost=cost, usage=usage)
            await self._accounting.wait_for_room()

    async def _admit(self, scope: RequestScope, body: dict[str, Any],
                     operation: Operation) -> None:
        if self._gate is not None:
            await self._gate.admit(scope, body, operation)

    async def _settle_cost(self, scope: RequestScope, cost: Cost, usage: TokenUsage) -> None:
        if self._gate is not None:
            await self._gate.settle(scope, cost.cost_micros, usage.total_tokens)

    async def _release(self, scope: RequestScope) -> None:
        if self._gate is not None:
            await self._gate.release(scope)

    def _release_soon(self, scope: RequestScope) -> None:
        if self._gate is not None:
            self._gate.release_soon(scope)

    async def _not_served(self, scope: RequestScope, exc: BaseException) -> None:
        """Undo the admission of a call whose upstream call raised ``exc`` before any answer.

        Our own errors are released now and recorded as the call's failure; anything else (a
        cancellation, a bug) must not wait on I/O here, so its release is only scheduled.
        """
        if isinstance(exc, LLMuxError):
            await self._release(scope)
            self._accounting.failed(scope, exc)
        else:
            self._release_soon(scope)


def _ending(fmt: StreamFormat | None, error: LLMuxError | None) -> list[bytes]:
    """The frames after the last upstream frame: none, the format's close, or an error."""
    if fmt is not None:
        return fmt.finish() if error is None else fmt.error(error)
    return [] if error is None else [error_frame(error), DONE_FRAME]
