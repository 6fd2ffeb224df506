"""``/user/*``: internal users (new, update, delete, info, list)."""

from __future__ import annotations

import falcon.asgi

from ingress.control.users import UserManagement
from ingress.resources.management import ManagementResource
from schemas.management import UserDeleteRequest, UserNewRequest, UserUpdateRequest

__all__ = ["Users"]

Request = falcon.asgi.Request
Response = falcon.asgi.Response


class Users(ManagementResource):
    def __init__(self, service: UserManagement, max_body_bytes: int) -> None:
        super().__init__(max_body_bytes)
        self._service = service

    async def on_post_new(self, req: Request, resp: Response) -> None:
        request = await self._body(req, UserNewRequest)
        self._send(resp, self._service.new(self._context(req), request))

    async def on_post_update(self, req: Request, resp: Response) -> None:
        request = await self._body(req, UserUpdateRequest)
        self._send(resp, self._service.update(self._context(req), request))

    on_patch_update = on_post_update

    async def on_post_delete(self, req: Request, resp: Response) -> None:
        request = await self._body(req, UserDeleteRequest)
        self._send(resp, self._service.delete(self._context(req), request))

    on_delete_delete = on_post_delete

    async def on_get_info(self, req: Request, resp: Response) -> None:
        self._send(resp, self._service.info(self._caller(req), req.get_param("user_id")))

    async def on_get_list(self, req: Request, resp: Response) -> None:
        self._send(resp, self._service.listing(self._caller(req), self._list_query(req)))
