"""``POST /v1/chat/completions``."""

from __future__ import annotations

import falcon
import falcon.asgi

from ingress.body import read_json_object, validate
from ingress.chat import ChatService
from schemas.money import format_usd
from schemas.openai import ChatCompletionRequest

__all__ = ["ChatCompletions"]

SSE_HEADERS = {"Cache-Control": "no-cache", "X-Accel-Buffering": "no"}


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
            resp.set_headers({**SSE_HEADERS, "x-llmux-deployment": call.deployment.id})
            # RawFrame has SSEvent.serialize(), all Falcon calls; its annotation names SSEvent only.
            resp.sse = self._service.pump(scope, call)  # type: ignore[assignment]
            return
        result, cost = await self._service.complete(scope, body)
        resp.content_type = falcon.MEDIA_JSON
        resp.data = result.body
        resp.set_header("x-llmux-deployment", result.deployment.id)
        resp.set_header("x-llmux-cost-usd", format_usd(cost.cost_micros))
