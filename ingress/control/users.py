"""Internal users: the people and service accounts who own keys and belong to teams and orgs.

Creating a user with a ``team_id`` also adds them to that team. Deleting a user deletes their keys
and removes them from every team and organization, each as its own admin event.
"""

from __future__ import annotations

from typing import Any

from ingress.auth import ADMIN_ROLES, Caller
from ingress.control.authz import Permissions
from ingress.control.changes import ChangeContext, ChangeRecorder
from ingress.control.fields import apply_limits, is_set, merged_metadata
from ingress.control.keys import KeyManagement
from ingress.control.service import EntityService, ListQuery, existing, updated_entity
from ingress.control.state import ControlState
from ingress.control.views import key_view, page, team_view, user_view
from schemas.errors import InvalidRequest
from schemas.events import (
    EntityLimits,
    TeamMember,
    UserCreated,
    UserDeleted,
    UserState,
    UserUpdated,
)
from schemas.management import UserDeleteRequest, UserNewRequest, UserUpdateRequest

__all__ = ["UserManagement"]

_SELF_FIELDS = frozenset({"user_id", "user_alias", "user_email", "metadata"})
"""What a user may change about themself."""


class UserManagement(EntityService):
    def __init__(self, state: ControlState, recorder: ChangeRecorder, permissions: Permissions,
                 keys: KeyManagement) -> None:
        super().__init__(state, recorder, permissions)
        self._keys = keys

    def info(self, caller: Caller, user_id: str | None) -> dict[str, Any]:
        user = self._readable_user(caller, user_id or self._own_id(caller))
        keys = [key_view(key) for key in self._state.keys_of(user_id=user.user_id)
                if self._permissions.can_read_key(caller, key)]
        teams = [team_view(team) for team in self._state.teams_of_user(user.user_id)
                 if self._permissions.can_read_team(caller, team)]
        view = user_view(user, self._state)
        return {"user_id": user.user_id, "user_info": view, "keys": keys, "teams": teams}

    def listing(self, caller: Caller, query: ListQuery) -> dict[str, Any]:
        users = [user for user in self._state.all_users()
                 if self._permissions.can_read_user(caller, user) and self._matches(user, query)]
        return page([user_view(user, self._state) for user in users], query.limit, query.offset)

    def new(self, context: ChangeContext, request: UserNewRequest) -> dict[str, Any]:
        caller, permissions = context.caller, self._permissions
        permissions.require_write(caller)
        team = existing(self._state.team(request.team_id), request.team_id, "team_id")
        existing(self._state.org(request.organization_id), request.organization_id,
                 "organization_id")
        org_id = request.organization_id or (team.org_id if team else None)
        self._check_role(caller, request.user_role, org_id)
        may = permissions.is_org_admin(caller, org_id) or (
            team is not None and permissions.is_team_admin(caller, team))
        permissions.require(may, "Only a proxy admin, an org admin or a team admin adds users.")
        user = UserState(
            user_id=self._new_id(request.user_id, self._state.user, "user_id"),
            created_at=context.now, user_alias=request.user_alias, user_email=request.user_email,
            user_role=request.user_role, org_id=org_id,
            models=list(request.models) if isinstance(request.models, list) else [],
            metadata=merged_metadata({}, request), limits=apply_limits(EntityLimits(), request),
            blocked=request.blocked if isinstance(request.blocked, bool) else False,
        )
        self._record(context, UserCreated(user_id=user.user_id, after=user,
                                          source_ip=context.source_ip))
        if team is not None:
            members = [*team.members, TeamMember(user_id=user.user_id, role="user")]
            self._with_team_members(context, team, members, [user.user_id])
        return user_view(user, self._state)

    def update(self, context: ChangeContext, request: UserUpdateRequest) -> dict[str, Any]:
        caller, permissions = context.caller, self._permissions
        user = self._readable_user(caller, request.user_id)
        permissions.require_write(caller)
        sent = {name for name in request.__struct_fields__ if is_set(getattr(request, name))}
        may = permissions.manages_user(caller, user) or (
            caller.user_id == user.user_id and sent <= _SELF_FIELDS)
        permissions.require(may, "Only a proxy admin or the user's org admin may change this.")
        after = updated_entity(user, request, context, {
            "user_alias": "user_alias", "user_email": "user_email", "user_role": "user_role",
            "organization_id": "org_id"})
        existing(self._state.org(after.org_id), after.org_id, "organization_id")
        if after.user_role != user.user_role or after.org_id != user.org_id:
            self._check_role(caller, after.user_role, after.org_id)
        self._record(context, UserUpdated(user_id=user.user_id, before=user, after=after,
                                          source_ip=context.source_ip))
        return user_view(after, self._state)

    def delete(self, context: ChangeContext, request: UserDeleteRequest) -> dict[str, Any]:
        caller = context.caller
        users = [self._readable_user(caller, user_id) for user_id in request.user_ids]
        if not users:
            raise InvalidRequest("Name the users to delete in 'user_ids'.", param="user_ids")
        self._permissions.require_write(caller)
        for user in users:
            self._permissions.require(self._permissions.manages_user(caller, user),
                                      "Only a proxy admin or the user's org admin may do this.")
        for user in users:
            self._keys.remove(context, self._state.keys_of(user_id=user.user_id))
            self._leave_everything(context, user.user_id)
            self._record(context, UserDeleted(user_id=user.user_id, before=user,
                                              source_ip=context.source_ip))
        return {"deleted_users": [user.user_id for user in users]}

    def _check_role(self, caller: Caller, role: str, org_id: str | None) -> None:
        """Only a proxy admin grants the admin roles; only an org admin grants ``org_admin``."""
        if role in ADMIN_ROLES:
            self._permissions.require(caller.is_admin, f"Only a proxy admin may grant {role}.")
        elif role == "org_admin":
            self._permissions.require(self._permissions.is_org_admin(caller, org_id),
                                      "Only an org admin of that organization may grant org_admin.")

    @staticmethod
    def _own_id(caller: Caller) -> str:
        if caller.user is None:
            raise InvalidRequest("Missing required parameter: 'user_id'.", param="user_id",
                                 code="missing_required_parameter")
        return caller.user.user_id

    def _matches(self, user: UserState, query: ListQuery) -> bool:
        if query.team_id and not any(team.team_id == query.team_id
                                     for team in self._state.teams_of_user(user.user_id)):
            return False
        if query.organization_id and query.organization_id not in self._state.user_org_ids(user):
            return False
        if query.role and user.user_role != query.role:
            return False
        text = (query.search or "").lower()
        return not text or any(text in (value or "").lower()
                               for value in (user.user_id, user.user_alias, user.user_email))
