"""Organizations: the top of the tenancy tree, changed only by proxy admins.

An organization's org admins manage its members; its settings (budgets, models) and its existence
belong to proxy admins. An organization that still has teams or users cannot be deleted.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import msgspec

from ingress.auth import Caller
from ingress.control.changes import ChangeContext
from ingress.control.fields import apply_limits, is_set, merged_metadata, micros
from ingress.control.service import EntityService, ListQuery, existing, updated_entity
from ingress.control.views import limits_view, org_view, page
from schemas.errors import InvalidRequest, NotFound
from schemas.events import (
    EntityLimits,
    OrganizationCreated,
    OrganizationDeleted,
    OrganizationMemberAdded,
    OrganizationMemberRemoved,
    OrganizationMemberUpdated,
    OrganizationUpdated,
    OrgMember,
    OrgState,
)
from schemas.management import (
    OrganizationDeleteRequest,
    OrganizationMemberAddRequest,
    OrganizationMemberDeleteRequest,
    OrganizationMemberUpdateRequest,
    OrganizationNewRequest,
    OrganizationUpdateRequest,
    OrgMemberSpec,
)

__all__ = ["OrganizationManagement"]


class OrganizationManagement(EntityService):
    def info(self, caller: Caller, org_id: str) -> dict[str, Any]:
        org = self._readable_org(caller, org_id)
        view = org_view(org)
        teams = [team.team_id for team in self._state.all_teams()
                 if team.org_id == org.org_id and self._permissions.can_read_team(caller, team)]
        return {**view, "organization": view, "budget": limits_view(org.limits), "teams": teams}

    def members(self, caller: Caller, org_id: str) -> dict[str, Any]:
        return {"organization_id": org_id, "members": org_view(self._readable_org(caller, org_id))[
            "members"]}

    def listing(self, caller: Caller, query: ListQuery) -> dict[str, Any]:
        orgs = [org for org in self._state.all_orgs()
                if self._permissions.can_read_org(caller, org)]
        return page([org_view(org) for org in orgs], query.limit, query.offset)

    def new(self, context: ChangeContext, request: OrganizationNewRequest) -> dict[str, Any]:
        self._require_proxy_admin(context.caller)
        org = OrgState(
            org_id=self._new_id(request.organization_id, self._state.org, "organization_id"),
            created_at=context.now, org_alias=request.organization_alias,
            models=list(request.models) if isinstance(request.models, list) else [],
            model_groups=dict(request.model_groups), metadata=merged_metadata({}, request),
            limits=apply_limits(EntityLimits(), request),
            blocked=request.blocked if isinstance(request.blocked, bool) else False,
        )
        self._record(context, OrganizationCreated(organization_id=org.org_id, after=org,
                                                  source_ip=context.source_ip))
        return org_view(org)

    def update(self, context: ChangeContext, request: OrganizationUpdateRequest) -> dict[str, Any]:
        org = self._readable_org(context.caller, request.organization_id)
        self._require_proxy_admin(context.caller)
        after = updated_entity(org, request, context, {
            "organization_alias": "org_alias", "model_groups": "model_groups"})
        self._record(context, OrganizationUpdated(organization_id=org.org_id, before=org,
                                                  after=after, source_ip=context.source_ip))
        return org_view(after)

    def delete(self, context: ChangeContext, request: OrganizationDeleteRequest) -> dict[str, Any]:
        if not request.organization_ids:
            raise InvalidRequest("Name the organizations to delete in 'organization_ids'.",
                                 param="organization_ids")
        orgs = [self._readable_org(context.caller, org_id) for org_id in request.organization_ids]
        self._require_proxy_admin(context.caller)
        for org in orgs:
            self._check_empty(org)
        for org in orgs:
            self._record(context, OrganizationDeleted(organization_id=org.org_id, before=org,
                                                      source_ip=context.source_ip))
        return {"deleted_organizations": [org.org_id for org in orgs]}

    def add_members(self, context: ChangeContext,
                    request: OrganizationMemberAddRequest) -> dict[str, Any]:
        org = self._member_managed(context, request.organization_id)
        added = [self._member(spec, f"members[{i}]")
                 for i, spec in enumerate(request.all_members)]
        if not added:
            raise InvalidRequest("Name the members to add in 'members'.", param="members")
        ids = {member.user_id for member in added}
        members = [m for m in org.members if m.user_id not in ids] + added
        after = self._with_org_members(context, org, members, sorted(ids),
                                       OrganizationMemberAdded)
        return org_view(after)

    def update_member(self, context: ChangeContext,
                      request: OrganizationMemberUpdateRequest) -> dict[str, Any]:
        org = self._member_managed(context, request.organization_id)
        member = org.member(request.user_id)
        if member is None:
            raise NotFound(f"user {request.user_id!r} is not a member of this organization.",
                           param="user_id", code="member_not_found")
        changes: dict[str, Any] = {}
        if is_set(request.user_role):
            changes["user_role"] = request.user_role
        budget = request.max_budget
        if budget is None or isinstance(budget, Decimal):
            changes["max_budget_micros"] = micros(budget, "max_budget")
        updated = msgspec.structs.replace(member, **changes)
        members = [updated if m.user_id == member.user_id else m for m in org.members]
        after = self._with_org_members(context, org, members, [member.user_id],
                                       OrganizationMemberUpdated)
        return org_view(after)

    def remove_members(self, context: ChangeContext,
                       request: OrganizationMemberDeleteRequest) -> dict[str, Any]:
        org = self._member_managed(context, request.organization_id)
        ids = set(request.all_user_ids)
        if not ids or not any(org.member(user_id) for user_id in ids):
            raise InvalidRequest("None of 'user_ids' is a member of this organization.",
                                 param="user_ids")
        members = [m for m in org.members if m.user_id not in ids]
        after = self._with_org_members(context, org, members, sorted(ids),
                                       OrganizationMemberRemoved)
        return org_view(after)

    def _require_proxy_admin(self, caller: Caller) -> None:
        self._permissions.require(caller.is_admin, "Only a proxy admin may do this.")

    def _member_managed(self, context: ChangeContext, org_id: str) -> OrgState:
        org = self._readable_org(context.caller, org_id)
        self._permissions.require_write(context.caller)
        self._permissions.require(self._permissions.is_org_admin(context.caller, org.org_id),
                                  "Only the organization's admins manage its members.")
        return org

    def _member(self, spec: OrgMemberSpec, field: str) -> OrgMember:
        existing(self._state.user(spec.user_id), spec.user_id, f"{field}.user_id")
        return OrgMember(user_id=spec.user_id, user_role=spec.user_role,
                         max_budget_micros=micros(spec.max_budget, f"{field}.max_budget"))

    def _check_empty(self, org: OrgState) -> None:
        teams = [team.team_id for team in self._state.all_teams() if team.org_id == org.org_id]
        users = [user.user_id for user in self._state.all_users() if user.org_id == org.org_id]
        if teams or users:
            raise InvalidRequest(
                f"organization {org.org_id!r} still has {len(teams)} teams and {len(users)} "
                "users; delete or move them first.", param="organization_ids")
