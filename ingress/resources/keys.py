"""``POST /key/generate`` (master key required)."""

from __future__ import annotations

import falcon
import falcon.asgi
import orjson

from ingress.auth import Caller
from ingress.body import read_json_object, validate
from ingress.keys import KeyService
from schemas.management import KeyGenerateRequest

__all__ = ["KeyGenerate"]


class KeyGenerate:
    def __init__(self, service: KeyService, max_body_bytes: int) -> None:
        self._service = service
        self._max_body_bytes = max_body_bytes

    async def on_post(self, req: falcon.asgi.Request, resp: falcon.asgi.Response) -> None:
        caller: Caller = req.context.caller
        caller.require_admin()
        body = await read_json_object(req, self._max_body_bytes) if req.content_length else {}
        request = validate(body, KeyGenerateRequest)
        created = self._service.generate(
            caller, request, source_ip=req.remote_addr, request_id=req.context.request_id
        )
        resp.content_type = falcon.MEDIA_JSON
        resp.data = orjson.dumps(created)
