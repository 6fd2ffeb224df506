"""The control plane's entities as admin events carry them: full snapshots, before and after.

Every admin event that changes an entity carries the whole entity as it was (``before``) and as it
is now (``after``), never a diff. Applying an event is therefore "put ``after``" (or "remove" when
``after`` is None), guarded by the entity's ``revision``: a change is applied only if its revision
is at least the one already applied (a deletion counts as revision ``before.revision + 1``). So
applying is idempotent, an event that arrives late never undoes a newer one, and every reader (the
ingress's in-memory state, the control projection) ends in the same state.

Money is integer micro-dollars; ``budget_duration`` is the canonical text (``1h``, ``1d``, ``7d``,
``30d``, ``1mo``) or None for a lifetime budget; times are UTC. Never a raw key: a key is known by
its id and its HMAC hash.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, ClassVar, Literal

import msgspec

__all__ = [
    "ORG_ROLES",
    "TEAM_ROLES",
    "USER_ROLES",
    "EndUserState",
    "EntityLimits",
    "KeyState",
    "OrgMember",
    "OrgRole",
    "OrgState",
    "TeamMember",
    "TeamRole",
    "TeamState",
    "UserRole",
    "UserState",
]

UserRole = Literal[
    "proxy_admin", "proxy_admin_viewer", "org_admin", "internal_user", "internal_user_viewer"
]
"""A user's role across the whole gateway (``user_role``)."""
TeamRole = Literal["admin", "user"]
"""A member's role in one team: a team ``admin`` manages the team's members and keys."""
OrgRole = Literal["org_admin", "internal_user", "internal_user_viewer"]
"""A member's role in one organization: an ``org_admin`` manages what lies under the org."""

USER_ROLES: tuple[str, ...] = (
    "proxy_admin", "proxy_admin_viewer", "org_admin", "internal_user", "internal_user_viewer"
)
TEAM_ROLES: tuple[str, ...] = ("admin", "user")
ORG_ROLES: tuple[str, ...] = ("org_admin", "internal_user", "internal_user_viewer")


class EntityLimits(msgspec.Struct, frozen=True, kw_only=True):
    """Budgets and rate limits of one entity (key, user, team, org, end user); None: no limit."""

    max_budget_micros: int | None = None
    """Hard budget per budget window: admission refuses requests that could exceed it."""
    soft_budget_micros: int | None = None
    """Alert threshold per budget window (never refuses)."""
    budget_duration: str | None = None
    """Window of both budgets (``1h``, ``1d``, ``7d``, ``30d``, ``1mo``); None: lifetime."""
    tpm_limit: int | None = None
    rpm_limit: int | None = None
    max_parallel_requests: int | None = None
    model_max_budget_micros: dict[str, int] = {}
    """Per-model hard budget, per ``model_budget_duration[model]`` (else ``budget_duration``)."""
    model_budget_duration: dict[str, str] = {}
    model_tpm_limit: dict[str, int] = {}
    model_rpm_limit: dict[str, int] = {}


class KeyState(msgspec.Struct, frozen=True, kw_only=True):
    """A virtual key."""

    KIND: ClassVar[str] = "key"

    key_id: str
    key_hash: str
    """HMAC-SHA256 of the raw key under the server's hash secret (hex); never the raw key."""
    key_prefix: str
    created_at: datetime
    """When the key was created; fixed-length budget windows are aligned to it."""
    key_alias: str | None = None
    key_name: str | None = None
    user_id: str | None = None
    team_id: str | None = None
    org_id: str | None = None
    models: list[str] = []
    """Models (or access group names) the key may call; empty or ``*``: every model."""
    metadata: dict[str, Any] = {}
    limits: EntityLimits = EntityLimits()
    expires: datetime | None = None
    """After this instant the key no longer authenticates; None: never expires."""
    blocked: bool = False
    key_type: str = "llm_api"
    auto_rotate: bool = False
    rotation_interval: str | None = None
    rotation_count: int = 0
    last_rotation_at: datetime | None = None
    updated_at: datetime | None = None
    revision: int = 0
    """Bumped by every change; a change with a lower revision than the one applied is stale."""

    @property
    def entity_id(self) -> str:
        return self.key_id


class UserState(msgspec.Struct, frozen=True, kw_only=True):
    """An internal user (a person or service account who owns keys)."""

    KIND: ClassVar[str] = "user"

    user_id: str
    created_at: datetime
    user_alias: str | None = None
    user_email: str | None = None
    user_role: UserRole = "internal_user"
    org_id: str | None = None
    models: list[str] = []
    metadata: dict[str, Any] = {}
    limits: EntityLimits = EntityLimits()
    blocked: bool = False
    updated_at: datetime | None = None
    revision: int = 0
    """Bumped by every change; a change with a lower revision than the one applied is stale."""

    @property
    def entity_id(self) -> str:
        return self.user_id


class TeamMember(msgspec.Struct, frozen=True, kw_only=True):
    user_id: str
    role: TeamRole = "user"


class TeamState(msgspec.Struct, frozen=True, kw_only=True):
    """A team: members, keys, and the limits they share."""

    KIND: ClassVar[str] = "team"

    team_id: str
    created_at: datetime
    team_alias: str | None = None
    org_id: str | None = None
    members: list[TeamMember] = []
    models: list[str] = []
    model_groups: dict[str, list[str]] = {}
    """Access groups defined by this team: a name usable in allow lists → the models it grants."""
    metadata: dict[str, Any] = {}
    limits: EntityLimits = EntityLimits()
    blocked: bool = False
    updated_at: datetime | None = None
    revision: int = 0
    """Bumped by every change; a change with a lower revision than the one applied is stale."""

    @property
    def entity_id(self) -> str:
        return self.team_id

    def role_of(self, user_id: str | None) -> str | None:
        """``user_id``'s role in this team, or None when not a member."""
        for member in self.members:
            if member.user_id == user_id:
                return member.role
        return None


class OrgMember(msgspec.Struct, frozen=True, kw_only=True):
    user_id: str
    user_role: OrgRole = "internal_user"
    max_budget_micros: int | None = None
    """This member's own budget inside the organization (same window as the org's budget)."""


class OrgState(msgspec.Struct, frozen=True, kw_only=True):
    """An organization: the top of the tenancy tree (org → teams → users → keys)."""

    KIND: ClassVar[str] = "organization"

    org_id: str
    created_at: datetime
    org_alias: str | None = None
    members: list[OrgMember] = []
    models: list[str] = []
    model_groups: dict[str, list[str]] = {}
    """Access groups defined for everything under this organization."""
    metadata: dict[str, Any] = {}
    limits: EntityLimits = EntityLimits()
    blocked: bool = False
    updated_at: datetime | None = None
    revision: int = 0
    """Bumped by every change; a change with a lower revision than the one applied is stale."""

    @property
    def entity_id(self) -> str:
        return self.org_id

    def member(self, user_id: str | None) -> OrgMember | None:
        for member in self.members:
            if member.user_id == user_id:
                return member
        return None


class EndUserState(msgspec.Struct, frozen=True, kw_only=True):
    """An end user: the ``user`` field of a request, tracked by id (LiteLLM's "customer")."""

    KIND: ClassVar[str] = "end_user"

    end_user_id: str
    created_at: datetime
    alias: str | None = None
    models: list[str] = []
    metadata: dict[str, Any] = {}
    limits: EntityLimits = EntityLimits()
    blocked: bool = False
    updated_at: datetime | None = None
    revision: int = 0
    """Bumped by every change; a change with a lower revision than the one applied is stale."""

    @property
    def entity_id(self) -> str:
        return self.end_user_id


_ = (datetime, Any)  # NOTE: resolved by msgspec at run time.
