"""Per-request facts on ``req.context``: the request id and the authenticated caller.

Authentication happens here, once, before any body is read, so an unauthenticated client can't
make the gateway parse megabytes of JSON. Public paths (health, metrics) skip it.
"""

from __future__ import annotations

import uuid
from typing import Any

import falcon.asgi

from ingress.auth import KeyRegistry, bearer_token

__all__ = ["RequestContextMiddleware"]


class RequestContextMiddleware:
    def __init__(self, registry: KeyRegistry, public_paths: frozenset[str]) -> None:
        self._registry = registry
        self._public_paths = public_paths

    async def process_request(self, req: falcon.asgi.Request, resp: falcon.asgi.Response) -> None:
        request_id = req.get_header("x-request-id") or uuid.uuid4().hex
        if len(request_id) > 128:
            request_id = uuid.uuid4().hex
        req.context.request_id = request_id
        resp.set_header("x-request-id", request_id)
        req.context.caller = None
        if req.path in self._public_paths:
            return
        token = bearer_token(req.get_header("authorization"), req.get_header("x-api-key"))
        req.context.caller = self._registry.authenticate(token)

    async def process_response(
        self, req: falcon.asgi.Request, resp: falcon.asgi.Response, resource: Any,
        req_succeeded: bool,
    ) -> None:
        return None
