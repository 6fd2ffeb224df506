"""``POST /v1/responses`` (the Responses API, stateless)."""

from __future__ import annotations

import falcon
import falcon.asgi
import orjson

from ingress.body import read_json_object
from ingress.resources.replies import reply_json, reply_stream
from ingress.responses import ResponsesService

__all__ = ["Responses"]


class Responses:
    def __init__(self, service: ResponsesService, max_body_bytes: int) -> None:
        self._service = service
        self._max_body_bytes = max_body_bytes

    async def on_post(self, req: falcon.asgi.Request, resp: falcon.asgi.Response) -> None:
        body = await read_json_object(req, self._max_body_bytes)
        scope, chat_body = self._service.begin(req.context.request_id, req.context.caller, body)
        req.context.scope = scope
        if scope.is_streaming:
            call = await self._service.open_stream(scope, chat_body)
            reply_stream(resp, call.deployment.id, self._service.events(scope, call, body))
            return
        response, deployment, cost = await self._service.create(scope, body, chat_body)
        reply_json(resp, orjson.dumps(response), deployment, cost.cost_micros)
