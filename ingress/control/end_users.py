"""End users: the ``user`` field of a request, tracked by id, with their own limits and allow list.

LiteLLM calls them customers. Only proxy admins manage them; their budgets and limits apply to
every request that names them, whichever key sends it.
"""

from __future__ import annotations

from typing import Any

import msgspec

from ingress.auth import Caller
from ingress.control.changes import ChangeContext
from ingress.control.fields import apply_limits, merged_metadata
from ingress.control.service import EntityService, ListQuery, updated_entity
from ingress.control.views import end_user_view, page
from schemas.errors import InvalidRequest, NotFound
from schemas.events import (
    EndUserBlocked,
    EndUserCreated,
    EndUserDeleted,
    EndUserState,
    EndUserUnblocked,
    EndUserUpdated,
    EntityLimits,
)
from schemas.management import EndUserNewRequest, EndUserUpdateRequest

__all__ = ["EndUserManagement"]


class EndUserManagement(EntityService):
    def info(self, caller: Caller, end_user_id: str) -> dict[str, Any]:
        return end_user_view(self._readable(caller, end_user_id))

    def listing(self, caller: Caller, query: ListQuery) -> dict[str, Any]:
        self._require_reader(caller)
        views = [end_user_view(end_user) for end_user in self._state.all_end_users()]
        return page(views, query.limit, query.offset)

    def new(self, context: ChangeContext, request: EndUserNewRequest) -> dict[str, Any]:
        self._require_admin(context.caller)
        end_user = EndUserState(
            end_user_id=self._new_id(request.user_id, self._state.end_user, "user_id"),
            created_at=context.now, alias=request.alias,
            models=list(request.models) if isinstance(request.models, list) else [],
            metadata=merged_metadata({}, request), limits=apply_limits(EntityLimits(), request),
            blocked=request.blocked if isinstance(request.blocked, bool) else False,
        )
        self._record(context, EndUserCreated(end_user_id=end_user.end_user_id, after=end_user,
                                             source_ip=context.source_ip))
        return end_user_view(end_user)

    def update(self, context: ChangeContext, request: EndUserUpdateRequest) -> dict[str, Any]:
        end_user = self._readable(context.caller, request.user_id)
        self._require_admin(context.caller)
        after = updated_entity(end_user, request, context, {"alias": "alias"})
        self._record(context, EndUserUpdated(end_user_id=end_user.end_user_id, before=end_user,
                                             after=after, source_ip=context.source_ip))
        return end_user_view(after)

    def delete(self, context: ChangeContext, user_ids: list[str]) -> dict[str, Any]:
        end_users = self._changeable(context, user_ids)
        for end_user in end_users:
            self._record(context, EndUserDeleted(end_user_id=end_user.end_user_id,
                                                 before=end_user, source_ip=context.source_ip))
        return {"deleted_end_users": [end_user.end_user_id for end_user in end_users]}

    def set_blocked(self, context: ChangeContext, user_ids: list[str],
                    blocked: bool) -> dict[str, Any]:
        views = []
        for end_user in self._changeable(context, user_ids):
            after = end_user
            if end_user.blocked != blocked:
                after = msgspec.structs.replace(end_user, blocked=blocked, updated_at=context.now)
                event = EndUserBlocked if blocked else EndUserUnblocked
                self._record(context, event(end_user_id=end_user.end_user_id, before=end_user,
                                            after=after, source_ip=context.source_ip))
            views.append(end_user_view(after))
        return {"data": views}

    def _changeable(self, context: ChangeContext, user_ids: list[str]) -> list[EndUserState]:
        if not user_ids:
            raise InvalidRequest("Name the end users in 'user_ids'.", param="user_ids")
        end_users = [self._readable(context.caller, user_id) for user_id in user_ids]
        self._require_admin(context.caller)
        return end_users

    def _readable(self, caller: Caller, end_user_id: str) -> EndUserState:
        self._require_reader(caller)
        end_user = self._state.end_user(end_user_id)
        if end_user is None:
            raise NotFound(f"end user {end_user_id!r} was not found.", param="user_id",
                           code="end_user_not_found")
        return end_user

    def _require_reader(self, caller: Caller) -> None:
        self._permissions.require(self._permissions.sees_all(caller),
                                  "Only proxy admins manage end users.")

    def _require_admin(self, caller: Caller) -> None:
        self._permissions.require(caller.is_admin, "Only proxy admins manage end users.")
