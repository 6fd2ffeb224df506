"""Management API request bodies, with the LiteLLM field names operators already script against.

Money arrives as a JSON number of US dollars and is read as ``Decimal`` (converted to integer
micro-dollars by the service). In ``*Update`` bodies a field that is absent is left unchanged
(``UNSET``), and ``null`` clears it. Unknown fields are ignored, as LiteLLM does, so existing
scripts keep working.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any, Literal

import msgspec
from msgspec import UNSET, UnsetType

__all__ = [
    "EndUserDeleteRequest",
    "EndUserNewRequest",
    "EndUserRefsRequest",
    "EndUserUpdateRequest",
    "KeyDeleteRequest",
    "KeyGenerateRequest",
    "KeyRefRequest",
    "KeyRegenerateRequest",
    "KeyUpdateRequest",
    "LimitFields",
    "ModelBudget",
    "OrgMemberSpec",
    "OrganizationDeleteRequest",
    "OrganizationMemberAddRequest",
    "OrganizationMemberDeleteRequest",
    "OrganizationMemberUpdateRequest",
    "OrganizationNewRequest",
    "OrganizationUpdateRequest",
    "TeamDeleteRequest",
    "TeamMemberAddRequest",
    "TeamMemberDeleteRequest",
    "TeamMemberSpec",
    "TeamNewRequest",
    "TeamRefRequest",
    "TeamUpdateRequest",
    "UserDeleteRequest",
    "UserNewRequest",
    "UserUpdateRequest",
]

UserRoleName = Literal[
    "proxy_admin", "proxy_admin_viewer", "org_admin", "internal_user", "internal_user_viewer"
]
KeyType = Literal["llm_api", "management", "read_only", "default"]

def _listed(member: Any) -> list[Any]:
    """LiteLLM's ``member``: one member, a list of them, or nothing."""
    if member is None:
        return []
    return list(member) if isinstance(member, list) else [member]


_NON_NEGATIVE = (
    "max_budget", "soft_budget", "tpm_limit", "rpm_limit", "max_parallel_requests",
)


class ModelBudget(msgspec.Struct, frozen=True, kw_only=True):
    """LiteLLM's long form of a per-model budget: ``{"budget_limit": 1.5, "time_period": "1d"}``."""

    budget_limit: Decimal
    time_period: str | None = None


class LimitFields(msgspec.Struct, frozen=True, kw_only=True):
    """Allow list, budgets, rate limits and metadata, shared by keys, users, teams, orgs, end users.

    Every field is ``UNSET`` unless the body names it.
    """

    models: list[str] | UnsetType = UNSET
    max_budget: Decimal | UnsetType | None = UNSET
    soft_budget: Decimal | UnsetType | None = UNSET
    budget_duration: str | UnsetType | None = UNSET
    tpm_limit: int | UnsetType | None = UNSET
    rpm_limit: int | UnsetType | None = UNSET
    max_parallel_requests: int | UnsetType | None = UNSET
    model_max_budget: dict[str, Decimal | ModelBudget] | UnsetType = UNSET
    model_tpm_limit: dict[str, int] | UnsetType = UNSET
    model_rpm_limit: dict[str, int] | UnsetType = UNSET
    metadata: dict[str, Any] | UnsetType = UNSET
    blocked: bool | UnsetType = UNSET

    def __post_init__(self) -> None:
        for name in _NON_NEGATIVE:
            value = getattr(self, name)
            if isinstance(value, int | Decimal) and value < 0:
                raise ValueError(f"{name}: must not be negative")
        for name in ("model_tpm_limit", "model_rpm_limit"):
            value = getattr(self, name)
            if isinstance(value, dict) and any(limit < 0 for limit in value.values()):
                raise ValueError(f"{name}: limits must not be negative")


class KeyGenerateRequest(LimitFields, frozen=True, kw_only=True):
    key_alias: str | None = None
    key_name: str | None = None
    user_id: str | None = None
    team_id: str | None = None
    organization_id: str | None = None
    duration: str | None = None
    """Lifetime of the key (``30d``, ``12h``, ``1mo``, ``-1`` or null: never expires)."""
    key_type: KeyType = "llm_api"
    auto_rotate: bool = False
    rotation_interval: str | None = None


class KeyUpdateRequest(LimitFields, frozen=True, kw_only=True):
    key: str
    """The key's id (``token_id``), or the key itself."""
    key_alias: str | UnsetType | None = UNSET
    key_name: str | UnsetType | None = UNSET
    user_id: str | UnsetType | None = UNSET
    team_id: str | UnsetType | None = UNSET
    organization_id: str | UnsetType | None = UNSET
    duration: str | UnsetType | None = UNSET
    key_type: KeyType | UnsetType = UNSET
    auto_rotate: bool | UnsetType = UNSET
    rotation_interval: str | UnsetType | None = UNSET


class KeyRegenerateRequest(KeyUpdateRequest, frozen=True, kw_only=True):
    """``/key/regenerate``: a new secret for ``key``, optionally with changed fields."""


class KeyDeleteRequest(msgspec.Struct, frozen=True, kw_only=True):
    keys: list[str] = []
    key_aliases: list[str] = []


class KeyRefRequest(msgspec.Struct, frozen=True, kw_only=True):
    key: str


class UserNewRequest(LimitFields, frozen=True, kw_only=True):
    user_id: str | None = None
    user_alias: str | None = None
    user_email: str | None = None
    user_role: UserRoleName = "internal_user"
    team_id: str | None = None
    organization_id: str | None = None


class UserUpdateRequest(LimitFields, frozen=True, kw_only=True):
    user_id: str
    user_alias: str | UnsetType | None = UNSET
    user_email: str | UnsetType | None = UNSET
    user_role: UserRoleName | UnsetType = UNSET
    organization_id: str | UnsetType | None = UNSET


class UserDeleteRequest(msgspec.Struct, frozen=True, kw_only=True):
    user_ids: list[str]


class TeamMemberSpec(msgspec.Struct, frozen=True, kw_only=True):
    user_id: str
    role: Literal["admin", "user"] = "user"


class TeamNewRequest(LimitFields, frozen=True, kw_only=True):
    team_id: str | None = None
    team_alias: str | None = None
    organization_id: str | None = None
    members_with_roles: list[TeamMemberSpec] = []
    model_groups: dict[str, list[str]] = {}


class TeamUpdateRequest(LimitFields, frozen=True, kw_only=True):
    team_id: str
    team_alias: str | UnsetType | None = UNSET
    organization_id: str | UnsetType | None = UNSET
    model_groups: dict[str, list[str]] | UnsetType = UNSET


class TeamDeleteRequest(msgspec.Struct, frozen=True, kw_only=True):
    team_ids: list[str]


class TeamRefRequest(msgspec.Struct, frozen=True, kw_only=True):
    team_id: str


class TeamMemberAddRequest(msgspec.Struct, frozen=True, kw_only=True):
    team_id: str
    members: list[TeamMemberSpec] = []
    member: TeamMemberSpec | list[TeamMemberSpec] | None = None
    """LiteLLM's spelling: one member or a list (merged with ``members``)."""

    @property
    def all_members(self) -> list[TeamMemberSpec]:
        return [*self.members, *_listed(self.member)]


class TeamMemberDeleteRequest(msgspec.Struct, frozen=True, kw_only=True):
    team_id: str
    user_ids: list[str] = []
    user_id: str | None = None

    @property
    def all_user_ids(self) -> list[str]:
        return [*self.user_ids, *([self.user_id] if self.user_id else [])]


class OrganizationNewRequest(LimitFields, frozen=True, kw_only=True):
    organization_id: str | None = None
    organization_alias: str | None = None
    model_groups: dict[str, list[str]] = {}


class OrganizationUpdateRequest(LimitFields, frozen=True, kw_only=True):
    organization_id: str
    organization_alias: str | UnsetType | None = UNSET
    model_groups: dict[str, list[str]] | UnsetType = UNSET


class OrganizationDeleteRequest(msgspec.Struct, frozen=True, kw_only=True):
    organization_ids: list[str]


class OrgMemberSpec(msgspec.Struct, frozen=True, kw_only=True):
    user_id: str
    user_role: Literal["org_admin", "internal_user", "internal_user_viewer"] = "internal_user"
    max_budget: Decimal | None = None
    budget_id: str | None = None
    """Accepted for LiteLLM compatibility; the member's budget is ``max_budget``."""


class OrganizationMemberAddRequest(msgspec.Struct, frozen=True, kw_only=True):
    organization_id: str
    members: list[OrgMemberSpec] = []
    member: OrgMemberSpec | list[OrgMemberSpec] | None = None

    @property
    def all_members(self) -> list[OrgMemberSpec]:
        return [*self.members, *_listed(self.member)]


class OrganizationMemberUpdateRequest(msgspec.Struct, frozen=True, kw_only=True):
    organization_id: str
    user_id: str
    user_role: Literal["org_admin", "internal_user", "internal_user_viewer"] | UnsetType = UNSET
    max_budget: Decimal | UnsetType | None = UNSET


class OrganizationMemberDeleteRequest(msgspec.Struct, frozen=True, kw_only=True):
    organization_id: str
    user_ids: list[str] = []
    user_id: str | None = None

    @property
    def all_user_ids(self) -> list[str]:
        return [*self.user_ids, *([self.user_id] if self.user_id else [])]


class EndUserNewRequest(LimitFields, frozen=True, kw_only=True):
    user_id: str
    """The id clients send in a request's ``user`` field."""
    alias: str | None = None


class EndUserUpdateRequest(LimitFields, frozen=True, kw_only=True):
    user_id: str
    alias: str | UnsetType | None = UNSET


class EndUserDeleteRequest(msgspec.Struct, frozen=True, kw_only=True):
    user_ids: list[str]


class EndUserRefsRequest(msgspec.Struct, frozen=True, kw_only=True):
    """``/end_user/block`` and ``/end_user/unblock``."""

    user_ids: list[str]


_ = (Any, Decimal)  # NOTE: resolved by msgspec at run time.
