"""The shared responder of the OpenAI endpoints that pass bodies through: validate, route, relay.

``/v1/completions`` and ``/v1/embeddings`` differ from each other only in their request type,
their endpoint name and the router operation, so each is a subclass that sets those three.
"""

from __future__ import annotations

from typing import Any, ClassVar

import falcon.asgi

from ingress.body import read_json_object, validate
from ingress.chat import CallRequest, ChatService
from ingress.resources.replies import reply_json, reply_stream
from router_engine.providers import Operation

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
            reply_stream(resp, call.deployment.id, self._service.pump(scope, call))
            return
        result, cost = await self._service.complete(scope, body, self.OPERATION)
        reply_json(resp, result.body, result.deployment.id, cost.cost_micros)
