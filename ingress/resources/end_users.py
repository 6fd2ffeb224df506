"""``/end_user/*`` (and LiteLLM's ``/customer/*``): end users, the request's ``user`` field."""

from __future__ import annotations

import falcon.asgi

from ingress.control.end_users import EndUserManagement
from ingress.resources.management import ManagementResource
from schemas.management import (
    EndUserDeleteRequest,
    EndUserNewRequest,
    EndUserRefsRequest,
    EndUserUpdateRequest,
)

__all__ = ["EndUsers"]

Request = falcon.asgi.Request
Response = falcon.asgi.Response


class EndUsers(ManagementResource):
    def __init__(self, service: EndUserManagement, max_body_bytes: int) -> None:
        super().__init__(max_body_bytes)
        self._service = service

    async def on_post_new(self, req: Request, resp: Response) -> None:
        request = await self._body(req, EndUserNewRequest)
        self._send(resp, self._service.new(self._context(req), request))

    async def on_post_update(self, req: Request, resp: Response) -> None:
        request = await self._body(req, EndUserUpdateRequest)
        self._send(resp, self._service.update(self._context(req), request))

    on_patch_update = on_post_update

    async def on_post_delete(self, req: Request, resp: Response) -> None:
        request = await self._body(req, EndUserDeleteRequest)
        self._send(resp, self._service.delete(self._context(req), request.user_ids))

    on_delete_delete = on_post_delete

    async def on_get_info(self, req: Request, resp: Response) -> None:
        end_user_id = self._required(req, "end_user_id") if req.get_param("end_user_id") else (
            self._required(req, "user_id"))
        self._send(resp, self._service.info(self._caller(req), end_user_id))

    async def on_get_list(self, req: Request, resp: Response) -> None:
        self._send(resp, self._service.listing(self._caller(req), self._list_query(req)))

    async def on_post_block(self, req: Request, resp: Response) -> None:
        request = await self._body(req, EndUserRefsRequest)
        self._send(resp, self._service.set_blocked(self._context(req), request.user_ids, True))

    async def on_post_unblock(self, req: Request, resp: Response) -> None:
        request = await self._body(req, EndUserRefsRequest)
        self._send(resp, self._service.set_blocked(self._context(req), request.user_ids, False))
