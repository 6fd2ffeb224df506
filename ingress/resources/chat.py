"""``POST /v1/chat/completions``."""

from __future__ import annotations

import falcon.asgi

from ingress.body import read_json_object, validate
from ingress.chat import ChatService
from ingress.resources.replies import reply_json, reply_stream
from schemas.openai import ChatCompletionRequest

__all__ = ["ChatCompletions"]


class ChatCompletions:
    def __init__(self, service: ChatService, max_body_bytes: int) -> None:
        self._service = service
        self._max_body_bytes = max_body_bytes

    async def on_post(self, req: falcon.asgi.Request, resp: falcon.asgi.Response) -> None:
        body = await read_json_object(req, self._max_body_bytes)
        request = validate(body, ChatCompletionRequest)
        scope = self._service.begin(req.context.request_id, req.context.caller, request)
        req.context.scope = scope
        if request.is_streaming:
            call = await self._service.open_stream(scope, body)
            reply_stream(resp, call.deployment.id, self._service.pump(scope, call))
            return
        result, cost = await self._service.complete(scope, body)
        reply_json(resp, result.body, result.deployment.id, cost.cost_micros)
