"""Who may read and change what: roles over the tenancy tree org → team → user → key.

- ``proxy_admin`` (and the master key) reads and changes everything; ``proxy_admin_viewer`` reads
  everything and changes nothing.
- An org admin (``org_admin`` member of an organization, or a user whose ``user_role`` is
  ``org_admin`` in their own ``organization_id``) manages the organization's members, teams,
  users and keys; only a proxy admin changes the organization itself.
- A team admin (a member with role ``admin``) manages the team's members and keys; the team's own
  settings (budgets, models) belong to its org admin or a proxy admin.
- Every user reads themself, the teams and organizations they belong to, and their own keys; an
  ``internal_user`` may create keys for themself and rename, block, regenerate or delete them,
  but never widen their limits. ``*_viewer`` roles change nothing.
- A key without a user reads only itself.

An entity the caller may not read is reported as not found, so nothing leaks across tenants.
"""

from __future__ import annotations

from ingress.auth import ADMIN_ROLES, Caller
from ingress.control.state import ControlState
from schemas.errors import NotFound, PermissionDenied
from schemas.events import KeyState, OrgState, TeamState, UserState

__all__ = ["Permissions", "forbid", "not_found"]


def not_found(kind: str, entity_id: str) -> NotFound:
    return NotFound(f"{kind} {entity_id!r} was not found.", code=f"{kind}_not_found")


def forbid(message: str) -> PermissionDenied:
    return PermissionDenied(message, code="not_allowed")


class Permissions:
    def __init__(self, state: ControlState) -> None:
        self._state = state

    # -- relations -----------------------------------------------------------------------

    @staticmethod
    def sees_all(caller: Caller) -> bool:
        return caller.role in ADMIN_ROLES

    def is_org_admin(self, caller: Caller, org_id: str | None) -> bool:
        if caller.is_admin:
            return True
        user = caller.user
        if user is None or not org_id:
            return False
        if user.user_role == "org_admin" and user.org_id == org_id:
            return True
        org = self._state.org(org_id)
        member = org.member(user.user_id) if org is not None else None
        return member is not None and member.user_role == "org_admin"

    def is_team_admin(self, caller: Caller, team: TeamState) -> bool:
        if caller.user is not None and team.role_of(caller.user.user_id) == "admin":
            return True
        return self.is_org_admin(caller, team.org_id)

    def _org_ids_of(self, user: UserState) -> set[str]:
        orgs = self._state.user_org_ids(user)
        orgs.update(team.org_id for team in self._state.teams_of_user(user.user_id)
                    if team.org_id)
        return orgs

    # -- reads ---------------------------------------------------------------------------

    def can_read_org(self, caller: Caller, org: OrgState) -> bool:
        if self.sees_all(caller) or self.is_org_admin(caller, org.org_id):
            return True
        return caller.user is not None and org.org_id in self._org_ids_of(caller.user)

    def can_read_team(self, caller: Caller, team: TeamState) -> bool:
        if self.sees_all(caller) or self.is_team_admin(caller, team):
            return True
        return caller.user is not None and team.role_of(caller.user.user_id) is not None

    def can_read_user(self, caller: Caller, user: UserState) -> bool:
        if self.sees_all(caller) or caller.user_id == user.user_id:
            return True
        return self.manages_user(caller, user) or any(
            self.is_team_admin(caller, team) for team in self._state.teams_of_user(user.user_id))

    def can_read_key(self, caller: Caller, key: KeyState) -> bool:
        if self.sees_all(caller) or caller.key_id == key.key_id:
            return True
        return self.owns_key(caller, key) or self.manages_key(caller, key)

    # -- changes -------------------------------------------------------------------------

    @staticmethod
    def can_write(caller: Caller) -> bool:
        return caller.is_admin or (caller.user is not None and not caller.is_read_only)

    def manages_user(self, caller: Caller, user: UserState) -> bool:
        """Proxy admin, or an org admin of an organization the user belongs to."""
        return caller.is_admin or any(
            self.is_org_admin(caller, org_id) for org_id in self._org_ids_of(user))

    def manages_key(self, caller: Caller, key: KeyState) -> bool:
        """Proxy admin, the key's org admin, or its team's admin."""
        if self.is_org_admin(caller, self._state.key_org_id(key)):
            return True
        team = self._state.team(key.team_id)
        return team is not None and self.is_team_admin(caller, team)

    @staticmethod
    def owns_key(caller: Caller, key: KeyState) -> bool:
        return caller.user is not None and key.user_id == caller.user.user_id

    def require_write(self, caller: Caller) -> None:
        if not self.can_write(caller):
            raise forbid("Your role may not change anything here.")

    def require(self, allowed: bool, message: str) -> None:
        if not allowed:
            raise forbid(message)
