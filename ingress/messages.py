"""``POST /v1/messages``: the Anthropic Messages API, served by any provider through chat.

The Anthropic request is validated and rewritten as an OpenAI chat request
(``router_engine.translation``), routed like any chat call (same model access checks, usage and
cost), and the chat reply is rewritten as an Anthropic ``Message``, or, streamed, as Anthropic's
named events (an ``error`` event ends a stream the upstream broke).
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

from ingress.accounting import RequestScope
from ingress.auth import Caller
from ingress.body import validate
from ingress.chat import ChatService
from ingress.sse import RawFrame
from router_engine import Cost, Router, StreamCall, count_request_prompt_tokens
from router_engine.translation import (
    OpenAIStreamToAnthropic,
    anthropic_request_to_openai,
    openai_response_to_anthropic,
)
from schemas.openai import ChatCompletionRequest

__all__ = ["MessagesService"]


class MessagesService:
    def __init__(self, chat: ChatService, router: Router) -> None:
        self._chat = chat
        self._router = router

    def begin(self, request_id: str, caller: Caller, body: dict[str, Any]
              ) -> tuple[RequestScope, dict[str, Any]]:
        """The request scope and the chat body; raises (Anthropic-style params) before routing."""
        chat_body = anthropic_request_to_openai(body)
        request = validate(chat_body, ChatCompletionRequest)
        return self._chat.begin(request_id, caller, request, endpoint="messages"), chat_body

    async def create(self, scope: RequestScope, chat_body: dict[str, Any]
                     ) -> tuple[dict[str, Any], str, Cost]:
        """The Anthropic ``Message``, the deployment that served it, and its cost."""
        result, cost = await self._chat.complete(scope, chat_body)
        message = openai_response_to_anthropic(result.body, model=scope.model_requested)
        return message, result.deployment.id, cost

    async def open_stream(self, scope: RequestScope, chat_body: dict[str, Any]) -> StreamCall:
        return await self._chat.open_stream(scope, chat_body)

    def events(self, scope: RequestScope, call: StreamCall) -> AsyncIterator[RawFrame]:
        """The SSE body: the chat stream as Anthropic events, settled like any stream."""
        return self._chat.pump(scope, call, OpenAIStreamToAnthropic(scope.model_requested))

    def count_tokens(self, caller: Caller, body: dict[str, Any]) -> dict[str, int]:
        """``/v1/messages/count_tokens``: the prompt counted locally (no upstream call)."""
        chat_body = anthropic_request_to_openai({"max_tokens": 1, **body})
        request = validate(chat_body, ChatCompletionRequest)
        caller.check_model(request.model)
        deployment = self._router.resolve(request.model)[0]
        tokens = count_request_prompt_tokens(chat_body, deployment.upstream_model)
        return {"input_tokens": tokens}
