"""Per-request facts on ``req.context``: the request id and the authenticated caller.

Authentication happens here, once, before any body is read, so an unauthenticated client can't
make the gateway parse megabytes of JSON. Public paths (health, metrics) skip it.
"""

from __future__ import annotations

import falcon.asgi

from ingress.auth import KeyRegistry, bearer_token
from schemas.ids import random_hex_id

__all__ = ["RequestContextMiddleware"]

_MAX_REQUEST_ID_CHARS = 128


class RequestContextMiddleware:
    def __init__(self, registry: KeyRegistry, public_paths: frozenset[str]) -> None:
        self._registry = registry
        self._public_paths = public_paths

    async def process_request(self, req: falcon.asgi.Request, resp: falcon.asgi.Response) -> None:
        request_id = req.get_header("x-request-id") or random_hex_id()
        if len(request_id) > _MAX_REQUEST_ID_CHARS:
            request_id = random_hex_id()
        req.context.request_id = request_id
        resp.set_header("x-request-id", request_id)
        req.context.caller = None
        if req.path in self._public_paths:
            return
        token = bearer_token(req.get_header("authorization"), req.get_header("x-api-key"))
        req.context.caller = self._registry.authenticate(token)
