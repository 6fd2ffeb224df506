"""The shared responder of the OpenAI endpoints that pass bodies through: validate, route, relay.

``/v1/completions`` and ``/v1/embeddings`` differ from each other only in their request type,
their endpoint name and the router operation, so each is a subclass that sets those three.
"""

from __future__ import annotations

from typing import Any, ClassVar

import falcon
import falcon.asgi

from ingress.body import read_json_object, validate
from ingress.chat import CallRequest, ChatService
from ingress.resources.chat import SSE_HEADERS
from router_engine.providers import Operation
from schemas.money import format_usd

__all__ = ["OpenAIOperation"]


class OpenAIOperation:
    """``POST`` of one OpenAI operation; the response body is the upstream's (translated)."""

    POST_SCHEMA: ClassVar[type[Any]]
    ENDPOINT: ClassVar[str]
    OPERATION: ClassVar[Operation]

    def __init__(self, service: ChatService, max_body_bytes: int) -> None:
        self._service = service
        self._max_body_bytes = max_body_bytes

    async def on_post(self, req: falcon.asgi.Request, resp: falcon.asgi.Response) -> None:
        body = await read_json_object(req, self._max_body_bytes)
        request: CallRequest = validate(body, self.POST_SCHEMA)
        scope = self._service.begin(req.context.request_id, req.context.caller, request,
                                    endpoint=self.ENDPOINT)
        req.context.scope = scope
        if request.is_streaming:
            call = await self._service.open_stream(scope, body, self.OPERATION)
            resp.set_headers({**SSE_HEADERS, "x-llmux-deployment": call.deployment.id})
            # RawFrame has SSEvent.serialize(), all Falcon calls; its annotation names SSEvent only.
            resp.sse = self._service.pump(scope, call)  # type: ignore[assignment]
            return
        result, cost = await self._service.complete(scope, body, self.OPERATION)
        resp.content_type = falcon.MEDIA_JSON
        resp.data = result.body
        resp.set_header("x-llmux-deployment", result.deployment.id)
        resp.set_header("x-llmux-cost-usd", format_usd(cost.cost_micros))
