"""``POST /v1/messages`` and ``POST /v1/messages/count_tokens`` (Anthropic Messages API)."""

from __future__ import annotations

import falcon
import falcon.asgi
import orjson

from ingress.body import read_json_object
from ingress.messages import MessagesService
from ingress.resources.replies import reply_json, reply_stream

__all__ = ["Messages"]


class Messages:
    def __init__(self, service: MessagesService, max_body_bytes: int) -> None:
        self._service = service
        self._max_body_bytes = max_body_bytes

    async def on_post(self, req: falcon.asgi.Request, resp: falcon.asgi.Response) -> None:
        body = await read_json_object(req, self._max_body_bytes)
        scope, chat_body = self._service.begin(req.context.request_id, req.context.caller, body)
        req.context.scope = scope
        if scope.is_streaming:
            call = await self._service.open_stream(scope, chat_body)
            reply_stream(resp, call.deployment.id, self._service.events(scope, call))
            return
        message, deployment, cost = await self._service.create(scope, chat_body)
        reply_json(resp, orjson.dumps(message), deployment, cost.cost_micros)

    async def on_post_count_tokens(self, req: falcon.asgi.Request,
                                   resp: falcon.asgi.Response) -> None:
        body = await read_json_object(req, self._max_body_bytes)
        resp.content_type = falcon.MEDIA_JSON
        resp.data = orjson.dumps(self._service.count_tokens(req.context.caller, body))
