"""Teams: members with roles, keys, shared limits; blocked as a whole.

A team's settings (budgets, models, organization) belong to its org admin or a proxy admin; its
team admins manage its members and keys. Deleting a team deletes its keys, each as its own event.
"""

from __future__ import annotations

from typing import Any

import msgspec

from ingress.auth import Caller
from ingress.control.authz import Permissions
from ingress.control.changes import ChangeContext, ChangeRecorder
from ingress.control.fields import apply_limits, merged_metadata
from ingress.control.keys import KeyManagement
from ingress.control.service import EntityService, ListQuery, existing, updated_entity
from ingress.control.state import ControlState
from ingress.control.views import key_view, page, team_view
from schemas.errors import InvalidRequest
from schemas.events import (
    EntityLimits,
    TeamBlocked,
    TeamCreated,
    TeamDeleted,
    TeamMember,
    TeamState,
    TeamUnblocked,
    TeamUpdated,
)
from schemas.management import (
    TeamDeleteRequest,
    TeamMemberAddRequest,
    TeamMemberDeleteRequest,
    TeamMemberSpec,
    TeamNewRequest,
    TeamUpdateRequest,
)

__all__ = ["TeamManagement"]


class TeamManagement(EntityService):
    def __init__(self, state: ControlState, recorder: ChangeRecorder, permissions: Permissions,
                 keys: KeyManagement) -> None:
        super().__init__(state, recorder, permissions)
        self._keys = keys

    def info(self, caller: Caller, team_id: str) -> dict[str, Any]:
        team = self._readable_team(caller, team_id)
        view = team_view(team)
        keys = [key_view(key) for key in self._state.keys_of(team_id=team.team_id)
                if self._permissions.can_read_key(caller, key)]
        return {"team_id": team.team_id, "team_info": view, "team": view,
                "members": view["members_with_roles"], "keys": keys}

    def listing(self, caller: Caller, query: ListQuery) -> dict[str, Any]:
        teams = [team for team in self._state.all_teams()
                 if self._permissions.can_read_team(caller, team)
                 and (query.organization_id is None or team.org_id == query.organization_id)
                 and (query.user_id is None or team.role_of(query.user_id) is not None)]
        return page([team_view(team) for team in teams], query.limit, query.offset)

    def new(self, context: ChangeContext, request: TeamNewRequest) -> dict[str, Any]:
        caller = context.caller
        self._permissions.require_write(caller)
        existing(self._state.org(request.organization_id), request.organization_id,
                 "organization_id")
        self._permissions.require(
            self._permissions.is_org_admin(caller, request.organization_id),
            "Only a proxy admin or an org admin (in their organization) creates teams.")
        team = TeamState(
            team_id=self._new_id(request.team_id, self._state.team, "team_id"),
            created_at=context.now, team_alias=request.team_alias,
            org_id=request.organization_id,
            members=self._members(request.members_with_roles, "members_with_roles"),
            models=list(request.models) if isinstance(request.models, list) else [],
            model_groups=dict(request.model_groups), metadata=merged_metadata({}, request),
            limits=apply_limits(EntityLimits(), request),
            blocked=request.blocked if isinstance(request.blocked, bool) else False,
        )
        self._record(context, TeamCreated(team_id=team.team_id, after=team,
                                          source_ip=context.source_ip))
        return team_view(team)

    def update(self, context: ChangeContext, request: TeamUpdateRequest) -> dict[str, Any]:
        team = self._changeable(context, request.team_id)
        after = updated_entity(team, request, context, {
            "team_alias": "team_alias", "organization_id": "org_id",
            "model_groups": "model_groups"})
        existing(self._state.org(after.org_id), after.org_id, "organization_id")
        self._permissions.require(self._permissions.is_org_admin(context.caller, after.org_id),
                                  "You may not move a team outside what you manage.")
        self._record(context, TeamUpdated(team_id=team.team_id, before=team, after=after,
                                          source_ip=context.source_ip))
        return team_view(after)

    def delete(self, context: ChangeContext, request: TeamDeleteRequest) -> dict[str, Any]:
        if not request.team_ids:
            raise InvalidRequest("Name the teams to delete in 'team_ids'.", param="team_ids")
        teams = [self._changeable(context, team_id) for team_id in request.team_ids]
        for team in teams:
            self._keys.remove(context, self._state.keys_of(team_id=team.team_id))
            self._record(context, TeamDeleted(team_id=team.team_id, before=team,
                                              source_ip=context.source_ip))
        return {"deleted_teams": [team.team_id for team in teams]}

    def set_blocked(self, context: ChangeContext, team_id: str, blocked: bool) -> dict[str, Any]:
        team = self._changeable(context, team_id)
        if team.blocked == blocked:
            return team_view(team)
        after = msgspec.structs.replace(team, blocked=blocked, updated_at=context.now)
        event = TeamBlocked if blocked else TeamUnblocked
        self._record(context, event(team_id=team.team_id, before=team, after=after,
                                    source_ip=context.source_ip))
        return team_view(after)

    def add_members(self, context: ChangeContext, request: TeamMemberAddRequest) -> dict[str, Any]:
        team = self._member_managed(context, request.team_id)
        added = self._members(request.all_members, "members")
        if not added:
            raise InvalidRequest("Name the members to add in 'members'.", param="members")
        ids = {member.user_id for member in added}
        members = [m for m in team.members if m.user_id not in ids] + added
        after = self._with_team_members(context, team, members, sorted(ids))
        return team_view(after)

    def remove_members(self, context: ChangeContext,
                       request: TeamMemberDeleteRequest) -> dict[str, Any]:
        team = self._member_managed(context, request.team_id)
        ids = set(request.all_user_ids)
        if not ids or not any(team.role_of(user_id) for user_id in ids):
            raise InvalidRequest("None of 'user_ids' is a member of this team.",
                                 param="user_ids")
        members = [m for m in team.members if m.user_id not in ids]
        after = self._with_team_members(context, team, members, sorted(ids))
        return team_view(after)

    def _changeable(self, context: ChangeContext, team_id: str) -> TeamState:
        team = self._readable_team(context.caller, team_id)
        self._permissions.require_write(context.caller)
        self._permissions.require(self._permissions.is_org_admin(context.caller, team.org_id),
                                  "Only a proxy admin or the team's org admin may do this.")
        return team

    def _member_managed(self, context: ChangeContext, team_id: str) -> TeamState:
        team = self._readable_team(context.caller, team_id)
        self._permissions.require_write(context.caller)
        self._permissions.require(self._permissions.is_team_admin(context.caller, team),
                                  "Only the team's admins manage its members.")
        return team

    def _members(self, specs: list[TeamMemberSpec], field: str) -> list[TeamMember]:
        for index, spec in enumerate(specs):
            existing(self._state.user(spec.user_id), spec.user_id, f"{field}[{index}].user_id")
        unique = {spec.user_id: TeamMember(user_id=spec.user_id, role=spec.role)
                  for spec in specs}
        return list(unique.values())
