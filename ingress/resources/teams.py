"""``/team/*``: teams (new, update, delete, info, list, block, unblock, member_add/delete)."""

from __future__ import annotations

import falcon.asgi

from ingress.control.teams import TeamManagement
from ingress.resources.management import ManagementResource
from schemas.management import (
    TeamDeleteRequest,
    TeamMemberAddRequest,
    TeamMemberDeleteRequest,
    TeamNewRequest,
    TeamRefRequest,
    TeamUpdateRequest,
)

__all__ = ["Teams"]

Request = falcon.asgi.Request
Response = falcon.asgi.Response


class Teams(ManagementResource):
    def __init__(self, service: TeamManagement, max_body_bytes: int) -> None:
        super().__init__(max_body_bytes)
        self._service = service

    async def on_post_new(self, req: Request, resp: Response) -> None:
        request = await self._body(req, TeamNewRequest)
        self._send(resp, self._service.new(self._context(req), request))

    async def on_post_update(self, req: Request, resp: Response) -> None:
        request = await self._body(req, TeamUpdateRequest)
        self._send(resp, self._service.update(self._context(req), request))

    on_patch_update = on_post_update

    async def on_post_delete(self, req: Request, resp: Response) -> None:
        request = await self._body(req, TeamDeleteRequest)
        self._send(resp, self._service.delete(self._context(req), request))

    on_delete_delete = on_post_delete

    async def on_get_info(self, req: Request, resp: Response) -> None:
        self._send(resp, self._service.info(self._caller(req), self._required(req, "team_id")))

    async def on_get_list(self, req: Request, resp: Response) -> None:
        self._send(resp, self._service.listing(self._caller(req), self._list_query(req)))

    async def on_post_block(self, req: Request, resp: Response) -> None:
        request = await self._body(req, TeamRefRequest)
        self._send(resp, self._service.set_blocked(self._context(req), request.team_id, True))

    async def on_post_unblock(self, req: Request, resp: Response) -> None:
        request = await self._body(req, TeamRefRequest)
        self._send(resp, self._service.set_blocked(self._context(req), request.team_id, False))

    async def on_post_member_add(self, req: Request, resp: Response) -> None:
        request = await self._body(req, TeamMemberAddRequest)
        self._send(resp, self._service.add_members(self._context(req), request))

    async def on_post_member_delete(self, req: Request, resp: Response) -> None:
        request = await self._body(req, TeamMemberDeleteRequest)
        self._send(resp, self._service.remove_members(self._context(req), request))

    on_delete_member_delete = on_post_member_delete
