"""The chat completions service: the hot path between a parsed request and the router.

Model access is checked before routing; the router picks and calls the deployment; the result's
usage is priced and recorded. Streams are pumped frame by frame from ``pump``, which settles usage
in its ``finally`` so a stream that ends any way at all (done, upstream error, client gone) is
recorded, with what was consumed until then.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from typing import Any

from ingress.accounting import Accounting, RequestScope
from ingress.auth import Caller
from ingress.sse import DONE_FRAME, RawFrame, error_frame
from router_engine import CallResult, Cost, Router, StreamCall
from schemas.errors import LLMuxError, UpstreamError
from schemas.openai import ChatCompletionRequest

__all__ = ["ChatService"]

_log = logging.getLogger("llmux.ingress")


class ChatService:
    def __init__(self, router: Router, accounting: Accounting) -> None:
        self._router = router
        self._accounting = accounting

    def begin(self, request_id: str, caller: Caller, request: ChatCompletionRequest,
              endpoint: str = "chat.completions") -> RequestScope:
        """Check the model exists and the caller may use it; raises before any upstream call."""
        caller.check_model(request.model)
        self._router.resolve(request.model)
        return RequestScope(request_id=request_id, caller=caller, endpoint=endpoint,
                            model_requested=request.model, is_streaming=request.is_streaming)

    async def complete(self, scope: RequestScope, body: dict[str, Any]) -> tuple[CallResult, Cost]:
        try:
            result = await self._router.complete(body, model=scope.model_requested)
        except LLMuxError as error:
            self._accounting.failed(scope, error)
            raise
        cost = self._router.price(result.deployment, result.usage)
        self._accounting.completed(scope, result, cost, result.usage)
        return result, cost

    async def open_stream(self, scope: RequestScope, body: dict[str, Any]) -> StreamCall:
        """Connect upstream; errors here still become a normal HTTP error response."""
        try:
            return await self._router.open_stream(body, model=scope.model_requested)
        except LLMuxError as error:
            self._accounting.failed(scope, error)
            raise

    async def pump(self, scope: RequestScope, call: StreamCall) -> AsyncIterator[RawFrame]:
        """The SSE body: upstream frames unchanged, then settlement whatever happened."""
        error: LLMuxError | None = None
        try:
            async for frame in call:
                yield RawFrame(frame)
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
        if error is not None:
            yield RawFrame(error_frame(error))
            yield RawFrame(DONE_FRAME)

    async def _settle(self, scope: RequestScope, call: StreamCall,
                      error: LLMuxError | None) -> None:
        try:
            await call.aclose()
        finally:
            usage = call.usage
            cost = self._router.price(call.deployment, usage)
            if error is None:
                self._accounting.completed(scope, call, cost, usage)
            else:
                self._accounting.failed(scope, error, call=call, cost=cost, usage=usage)
