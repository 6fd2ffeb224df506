"""What every management service shares: the state, the recorder, the rules, and small checks."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from typing import Any, TypeVar

import msgspec

from ingress.auth import Caller
from ingress.control.authz import Permissions
from ingress.control.changes import ChangeContext, ChangeRecorder
from ingress.control.fields import apply_limits, is_set, merged_metadata
from ingress.control.state import ControlState
from schemas.errors import InvalidRequest, NotFound
from schemas.events import (
    AdminChange,
    EndUserState,
    KeyState,
    OrganizationMemberAdded,
    OrganizationMemberRemoved,
    OrganizationMemberUpdated,
    OrgMember,
    OrgState,
    TeamMember,
    TeamMemberAdded,
    TeamMemberRemoved,
    TeamState,
    UserState,
)
from schemas.management import LimitFields

__all__ = ["EntityService", "ListQuery", "existing", "updated_entity"]

E = TypeVar("E", bound=msgspec.Struct)
Configurable = TypeVar("Configurable", KeyState, UserState, TeamState, OrgState, EndUserState)
_MAX_ID_LENGTH = 128


class ListQuery(msgspec.Struct, frozen=True, kw_only=True):
    """Filters and paging of the ``/*/list`` endpoints (unused filters are ignored)."""

    team_id: str | None = None
    user_id: str | None = None
    organization_id: str | None = None
    role: str | None = None
    search: str | None = None
    key_alias: str | None = None
    limit: int = 50
    offset: int = 0


def existing(entity: E | None, entity_id: str | None, field: str) -> E | None:
    """``entity``; a 400 naming ``field`` when an id was given but nothing has it."""
    if entity_id and entity is None:
        raise InvalidRequest(f"{field} {entity_id!r} does not exist.", param=field)
    return entity


def updated_entity(entity: Configurable, request: LimitFields, context: ChangeContext,
                   renames: dict[str, str]) -> Configurable:
    """``entity`` with the limits, models, metadata and named fields ``request`` sent."""
    changes: dict[str, Any] = {
        "limits": apply_limits(entity.limits, request),
        "metadata": merged_metadata(entity.metadata, request),
        "updated_at": context.now,
    }
    for name, target in {"models": "models", "blocked": "blocked", **renames}.items():
        value = getattr(request, name)
        if is_set(value):
            changes[target] = value
    return msgspec.structs.replace(entity, **changes)


class EntityService:
    """Base of the user, team, organization and end-user services."""

    def __init__(self, state: ControlState, recorder: ChangeRecorder,
                 permissions: Permissions) -> None:
        self._state = state
        self._recorder = recorder
        self._permissions = permissions

    def _record(self, context: ChangeContext, change: AdminChange) -> None:
        self._recorder.record(context, change)

    @staticmethod
    def _new_id(requested: str | None, taken: Callable[[str], object], field: str) -> str:
        if requested is None:
            return uuid.uuid4().hex
        if not requested or len(requested) > _MAX_ID_LENGTH:
            raise InvalidRequest(f"{field} must be 1 to {_MAX_ID_LENGTH} characters.", param=field)
        if taken(requested) is not None:
            raise InvalidRequest(f"{field} {requested!r} already exists.", param=field,
                                 code="already_exists")
        return requested

    def _readable_team(self, caller: Caller, team_id: str) -> TeamState:
        team = self._state.team(team_id)
        if team is None or not self._permissions.can_read_team(caller, team):
            raise NotFound(f"team {team_id!r} was not found.", param="team_id",
                           code="team_not_found")
        return team

    def _readable_org(self, caller: Caller, org_id: str) -> OrgState:
        org = self._state.org(org_id)
        if org is None or not self._permissions.can_read_org(caller, org):
            raise NotFound(f"organization {org_id!r} was not found.", param="organization_id",
                           code="organization_not_found")
        return org

    def _readable_user(self, caller: Caller, user_id: str) -> UserState:
        user = self._state.user(user_id)
        if user is None or not self._permissions.can_read_user(caller, user):
            raise NotFound(f"user {user_id!r} was not found.", param="user_id",
                           code="user_not_found")
        return user

    # -- memberships (shared by the user, team and organization services) ----------------

    def _with_team_members(self, context: ChangeContext, team: TeamState,
                           members: list[TeamMember], user_ids: list[str]) -> TeamState:
        """Record ``team``'s new member list (members added, removed or re-roled)."""
        removed = len(members) < len(team.members)
        after = msgspec.structs.replace(team, members=members, updated_at=context.now)
        event = TeamMemberRemoved if removed else TeamMemberAdded
        self._record(context, event(team_id=team.team_id, before=team, after=after,
                                    user_ids=user_ids, source_ip=context.source_ip))
        return after

    def _with_org_members(self, context: ChangeContext, org: OrgState, members: list[OrgMember],
                          user_ids: list[str],
                          event: type[OrganizationMemberAdded | OrganizationMemberUpdated
                                      | OrganizationMemberRemoved]) -> OrgState:
        after = msgspec.structs.replace(org, members=members, updated_at=context.now)
        self._record(context, event(organization_id=org.org_id, before=org, after=after,
                                    user_ids=user_ids, source_ip=context.source_ip))
        return after

    def _leave_everything(self, context: ChangeContext, user_id: str) -> None:
        """Remove ``user_id`` from every team and organization it is a member of."""
        for team in self._state.teams_of_user(user_id):
            kept = [m for m in team.members if m.user_id != user_id]
            self._with_team_members(context, team, kept, [user_id])
        for org in self._state.all_orgs():
            if org.member(user_id) is not None:
                kept_members = [m for m in org.members if m.user_id != user_id]
                self._with_org_members(context, org, kept_members, [user_id],
                                       OrganizationMemberRemoved)
