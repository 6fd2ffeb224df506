"""``/key/*``: virtual keys (generate, update, delete, info, list, block, unblock, regenerate)."""

from __future__ import annotations

import falcon.asgi

from ingress.control.keys import KeyManagement
from ingress.resources.management import ManagementResource
from schemas.management import (
    KeyDeleteRequest,
    KeyGenerateRequest,
    KeyRefRequest,
    KeyRegenerateRequest,
    KeyUpdateRequest,
)

__all__ = ["Keys"]

Request = falcon.asgi.Request
Response = falcon.asgi.Response


class Keys(ManagementResource):
    def __init__(self, service: KeyManagement, max_body_bytes: int) -> None:
        super().__init__(max_body_bytes)
        self._service = service

    async def on_post_generate(self, req: Request, resp: Response) -> None:
        request = await self._body(req, KeyGenerateRequest)
        self._send(resp, self._service.generate(self._context(req), request))

    async def on_post_update(self, req: Request, resp: Response) -> None:
        request = await self._body(req, KeyUpdateRequest)
        self._send(resp, self._service.update(self._context(req), request))

    on_patch_update = on_post_update

    async def on_post_delete(self, req: Request, resp: Response) -> None:
        request = await self._body(req, KeyDeleteRequest)
        self._send(resp, self._service.delete(self._context(req), request))

    on_delete_delete = on_post_delete

    async def on_get_info(self, req: Request, resp: Response) -> None:
        self._send(resp, self._service.info(self._caller(req), req.get_param("key")))

    async def on_get_list(self, req: Request, resp: Response) -> None:
        self._send(resp, self._service.listing(self._caller(req), self._list_query(req)))

    async def on_post_block(self, req: Request, resp: Response) -> None:
        request = await self._body(req, KeyRefRequest)
        self._send(resp, self._service.set_blocked(self._context(req), request.key, True))

    async def on_post_unblock(self, req: Request, resp: Response) -> None:
        request = await self._body(req, KeyRefRequest)
        self._send(resp, self._service.set_blocked(self._context(req), request.key, False))

    async def on_post_regenerate(self, req: Request, resp: Response) -> None:
        request = await self._body(req, KeyRegenerateRequest)
        self._send(resp, self._service.regenerate(self._context(req), request))
