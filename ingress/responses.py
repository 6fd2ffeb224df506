"""``POST /v1/responses``: the Responses API, stateless, served by any provider through chat.

The request is validated, rewritten as a chat request (``router_engine.translation``) and routed
like any chat call (same model access checks, usage and cost); the chat reply becomes a
``Response`` object, or, streamed, the Responses API's own events (``response.created``,
``response.output_text.delta``... ``response.completed``). The response id is ``resp_`` plus the
request id, so it matches the ``x-request-id`` header and the request's events.
"""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from typing import Any

from ingress.accounting import RequestScope
from ingress.auth import Caller
from ingress.body import validate
from ingress.chat import ChatService
from ingress.sse import RawFrame
from router_engine import Cost, StreamCall
from router_engine.translation import (
    OpenAIStreamToResponses,
    openai_response_to_responses,
    responses_request_to_openai,
)
from schemas.openai import ChatCompletionRequest, ResponsesRequest

__all__ = ["ResponsesService"]


class ResponsesService:
    def __init__(self, chat: ChatService) -> None:
        self._chat = chat

    def begin(self, request_id: str, caller: Caller, body: dict[str, Any]
              ) -> tuple[RequestScope, dict[str, Any]]:
        """The request scope and the chat body; raises before routing on a bad request."""
        validate(body, ResponsesRequest)
        chat_body = responses_request_to_openai(body)
        request = validate(chat_body, ChatCompletionRequest)
        return self._chat.begin(request_id, caller, request, endpoint="responses"), chat_body

    async def create(self, scope: RequestScope, body: dict[str, Any],
                     chat_body: dict[str, Any]) -> tuple[dict[str, Any], str, Cost]:
        """The ``Response`` object, the deployment that served it, and its cost."""
        result, cost = await self._chat.complete(scope, chat_body)
        response = openai_response_to_responses(
            result.body, request=body, response_id=_response_id(scope),
            created_at=int(time.time()))
        return response, result.deployment.id, cost

    async def open_stream(self, scope: RequestScope, chat_body: dict[str, Any]) -> StreamCall:
        return await self._chat.open_stream(scope, chat_body)

    def events(self, scope: RequestScope, call: StreamCall, body: dict[str, Any]
               ) -> AsyncIterator[RawFrame]:
        """The SSE body: the chat stream as Responses events, settled like any stream."""
        events = OpenAIStreamToResponses(body, response_id=_response_id(scope),
                                         created_at=int(time.time()))
        return self._chat.pump(scope, call, events)


def _response_id(scope: RequestScope) -> str:
    return f"resp_{scope.request_id}"
