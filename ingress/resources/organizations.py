"""``/organization/*``: organizations (new, update, delete, info, list, members, member_*)."""

from __future__ import annotations

import falcon.asgi

from ingress.control.organizations import OrganizationManagement
from ingress.resources.management import ManagementResource
from schemas.management import (
    OrganizationDeleteRequest,
    OrganizationMemberAddRequest,
    OrganizationMemberDeleteRequest,
    OrganizationMemberUpdateRequest,
    OrganizationNewRequest,
    OrganizationUpdateRequest,
)

__all__ = ["Organizations"]

Request = falcon.asgi.Request
Response = falcon.asgi.Response


class Organizations(ManagementResource):
    def __init__(self, service: OrganizationManagement, max_body_bytes: int) -> None:
        super().__init__(max_body_bytes)
        self._service = service

    async def on_post_new(self, req: Request, resp: Response) -> None:
        request = await self._body(req, OrganizationNewRequest)
        self._send(resp, self._service.new(self._context(req), request))

    async def on_patch_update(self, req: Request, resp: Response) -> None:
        request = await self._body(req, OrganizationUpdateRequest)
        self._send(resp, self._service.update(self._context(req), request))

    on_post_update = on_patch_update

    async def on_delete_delete(self, req: Request, resp: Response) -> None:
        request = await self._body(req, OrganizationDeleteRequest)
        self._send(resp, self._service.delete(self._context(req), request))

    on_post_delete = on_delete_delete

    async def on_get_info(self, req: Request, resp: Response) -> None:
        org_id = self._required(req, "organization_id")
        self._send(resp, self._service.info(self._caller(req), org_id))

    async def on_get_list(self, req: Request, resp: Response) -> None:
        self._send(resp, self._service.listing(self._caller(req), self._list_query(req)))

    async def on_get_members(self, req: Request, resp: Response) -> None:
        org_id = self._required(req, "organization_id")
        self._send(resp, self._service.members(self._caller(req), org_id))

    async def on_post_member_add(self, req: Request, resp: Response) -> None:
        request = await self._body(req, OrganizationMemberAddRequest)
        self._send(resp, self._service.add_members(self._context(req), request))

    async def on_post_member_update(self, req: Request, resp: Response) -> None:
        request = await self._body(req, OrganizationMemberUpdateRequest)
        self._send(resp, self._service.update_member(self._context(req), request))

    on_patch_member_update = on_post_member_update

    async def on_post_member_delete(self, req: Request, resp: Response) -> None:
        request = await self._body(req, OrganizationMemberDeleteRequest)
        self._send(resp, self._service.remove_members(self._context(req), request))

    on_delete_member_delete = on_post_member_delete
