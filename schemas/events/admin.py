"""Admin events: every change made through the management API or CLI.

Each change names its entity and carries the whole entity before and after it (see
``schemas.events.entities``); the envelope carries the actor and the request id, the payload the
source IP. :meth:`AdminChange.outcome` says what the event leaves behind, so every reader (the
ingress's in-memory control state, the control projection) applies an event the same way: put
``after``, or remove the entity when ``after`` is None.

``KeyCreated`` predates the before/after shape: its version 1 fields are kept (new ones have
defaults), so stored events still decode, and its ``after`` is built from its fields.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, NamedTuple

from schemas.events.entities import (
    EndUserState,
    EntityLimits,
    KeyState,
    OrgState,
    TeamState,
    UserState,
)
from schemas.events.envelope import EventPayload

__all__ = [
    "ADMIN_EVENT_TYPES",
    "AdminChange",
    "ChangeOutcome",
    "EndUserBlocked",
    "EndUserChange",
    "EndUserCreated",
    "EndUserDeleted",
    "EndUserUnblocked",
    "EndUserUpdated",
    "EntityState",
    "KeyBlocked",
    "KeyChange",
    "KeyCreated",
    "KeyDeleted",
    "KeyRegenerated",
    "KeyUnblocked",
    "KeyUpdated",
    "OrganizationChange",
    "OrganizationCreated",
    "OrganizationDeleted",
    "OrganizationMemberAdded",
    "OrganizationMemberRemoved",
    "OrganizationMemberUpdated",
    "OrganizationUpdated",
    "TeamBlocked",
    "TeamChange",
    "TeamCreated",
    "TeamDeleted",
    "TeamMemberAdded",
    "TeamMemberRemoved",
    "TeamUnblocked",
    "TeamUpdated",
    "UserChange",
    "UserCreated",
    "UserDeleted",
    "UserUpdated",
]

EntityState = KeyState | UserState | TeamState | OrgState | EndUserState


class ChangeOutcome(NamedTuple):
    """What an admin event leaves behind: entity ``kind``/``entity_id`` is now ``after``.

    Apply it only if ``revision`` is at least the revision already applied to that entity (or to
    its deletion): a late event then never undoes a newer one.
    """

    kind: str
    entity_id: str
    after: EntityState | None
    """The entity after the change; None when it was deleted."""
    revision: int
    """``after.revision``, or for a deletion ``before.revision + 1``."""


def _outcome(kind: str, entity_id: str, before: EntityState | None,
             after: EntityState | None) -> ChangeOutcome:
    if after is not None:
        return ChangeOutcome(kind, entity_id, after, after.revision)
    return ChangeOutcome(kind, entity_id, None, before.revision + 1 if before else 0)


class AdminChange(EventPayload, frozen=True, kw_only=True):
    """Base of every admin event."""

    source_ip: str | None = None
    """Address the management request came from (None for changes the gateway made itself)."""

    def outcome(self, occurred_at: datetime) -> ChangeOutcome | None:
        """The entity this event leaves behind (``occurred_at``: the envelope's time).

        None for an admin event that changes no entity of the control plane.
        """
        return None


class KeyCreated(AdminChange, frozen=True, kw_only=True):
    TYPE = "admin.key.created"
    VERSION = 1

    key_id: str
    key_hash: str
    """HMAC-SHA256 of the raw key under the server's hash secret (hex); never the raw key."""
    key_prefix: str
    """First characters of the raw key, so a human can tell keys apart (``sk-llmux-ab12``)."""
    key_alias: str | None = None
    user_id: str | None = None
    team_id: str | None = None
    org_id: str | None = None
    models: list[str] = []
    """Models the key may call; empty means every model."""
    metadata: dict[str, Any] = {}
    key_name: str | None = None
    limits: EntityLimits = EntityLimits()
    expires: datetime | None = None
    blocked: bool = False
    key_type: str = "llm_api"
    auto_rotate: bool = False
    rotation_interval: str | None = None

    def state(self, created_at: datetime) -> KeyState:
        """The key this event creates (``created_at``: the envelope's ``occurred_at``)."""
        return KeyState(
            key_id=self.key_id, key_hash=self.key_hash, key_prefix=self.key_prefix,
            created_at=created_at, key_alias=self.key_alias, key_name=self.key_name,
            user_id=self.user_id, team_id=self.team_id, org_id=self.org_id,
            models=list(self.models), metadata=dict(self.metadata), limits=self.limits,
            expires=self.expires, blocked=self.blocked, key_type=self.key_type,
            auto_rotate=self.auto_rotate, rotation_interval=self.rotation_interval,
        )

    def outcome(self, occurred_at: datetime) -> ChangeOutcome:
        return _outcome(KeyState.KIND, self.key_id, None, self.state(occurred_at))


class KeyChange(AdminChange, frozen=True, kw_only=True):
    key_id: str
    before: KeyState | None = None
    after: KeyState | None = None

    def outcome(self, occurred_at: datetime) -> ChangeOutcome:
        return _outcome(KeyState.KIND, self.key_id, self.before, self.after)


class KeyUpdated(KeyChange, frozen=True, kw_only=True):
    TYPE = "admin.key.updated"


class KeyBlocked(KeyChange, frozen=True, kw_only=True):
    TYPE = "admin.key.blocked"


class KeyUnblocked(KeyChange, frozen=True, kw_only=True):
    TYPE = "admin.key.unblocked"


class KeyDeleted(KeyChange, frozen=True, kw_only=True):
    TYPE = "admin.key.deleted"


class KeyRegenerated(KeyChange, frozen=True, kw_only=True):
    """A new secret for the same key id: ``after`` holds the new hash and prefix."""

    TYPE = "admin.key.regenerated"


class UserChange(AdminChange, frozen=True, kw_only=True):
    user_id: str
    before: UserState | None = None
    after: UserState | None = None

    def outcome(self, occurred_at: datetime) -> ChangeOutcome:
        return _outcome(UserState.KIND, self.user_id, self.before, self.after)


class UserCreated(UserChange, frozen=True, kw_only=True):
    TYPE = "admin.user.created"


class UserUpdated(UserChange, frozen=True, kw_only=True):
    TYPE = "admin.user.updated"


class UserDeleted(UserChange, frozen=True, kw_only=True):
    TYPE = "admin.user.deleted"


class TeamChange(AdminChange, frozen=True, kw_only=True):
    team_id: str
    before: TeamState | None = None
    after: TeamState | None = None

    def outcome(self, occurred_at: datetime) -> ChangeOutcome:
        return _outcome(TeamState.KIND, self.team_id, self.before, self.after)


class TeamCreated(TeamChange, frozen=True, kw_only=True):
    TYPE = "admin.team.created"


class TeamUpdated(TeamChange, frozen=True, kw_only=True):
    TYPE = "admin.team.updated"


class TeamDeleted(TeamChange, frozen=True, kw_only=True):
    TYPE = "admin.team.deleted"


class TeamBlocked(TeamChange, frozen=True, kw_only=True):
    TYPE = "admin.team.blocked"


class TeamUnblocked(TeamChange, frozen=True, kw_only=True):
    TYPE = "admin.team.unblocked"


class TeamMemberAdded(TeamChange, frozen=True, kw_only=True):
    TYPE = "admin.team.member_added"

    user_ids: list[str] = []
    """The members added (or whose role changed)."""


class TeamMemberRemoved(TeamChange, frozen=True, kw_only=True):
    TYPE = "admin.team.member_removed"

    user_ids: list[str] = []


class OrganizationChange(AdminChange, frozen=True, kw_only=True):
    organization_id: str
    before: OrgState | None = None
    after: OrgState | None = None

    def outcome(self, occurred_at: datetime) -> ChangeOutcome:
        return _outcome(OrgState.KIND, self.organization_id, self.before, self.after)


class OrganizationCreated(OrganizationChange, frozen=True, kw_only=True):
    TYPE = "admin.organization.created"


class OrganizationUpdated(OrganizationChange, frozen=True, kw_only=True):
    TYPE = "admin.organization.updated"


class OrganizationDeleted(OrganizationChange, frozen=True, kw_only=True):
    TYPE = "admin.organization.deleted"


class OrganizationMemberAdded(OrganizationChange, frozen=True, kw_only=True):
    TYPE = "admin.organization.member_added"

    user_ids: list[str] = []


class OrganizationMemberUpdated(OrganizationChange, frozen=True, kw_only=True):
    TYPE = "admin.organization.member_updated"

    user_ids: list[str] = []


class OrganizationMemberRemoved(OrganizationChange, frozen=True, kw_only=True):
    TYPE = "admin.organization.member_removed"

    user_ids: list[str] = []


class EndUserChange(AdminChange, frozen=True, kw_only=True):
    end_user_id: str
    before: EndUserState | None = None
    after: EndUserState | None = None

    def outcome(self, occurred_at: datetime) -> ChangeOutcome:
        return _outcome(EndUserState.KIND, self.end_user_id, self.before, self.after)


class EndUserCreated(EndUserChange, frozen=True, kw_only=True):
    TYPE = "admin.end_user.created"


class EndUserUpdated(EndUserChange, frozen=True, kw_only=True):
    TYPE = "admin.end_user.updated"


class EndUserDeleted(EndUserChange, frozen=True, kw_only=True):
    TYPE = "admin.end_user.deleted"


class EndUserBlocked(EndUserChange, frozen=True, kw_only=True):
    TYPE = "admin.end_user.blocked"


class EndUserUnblocked(EndUserChange, frozen=True, kw_only=True):
    TYPE = "admin.end_user.unblocked"


ADMIN_EVENT_TYPES: tuple[type[AdminChange], ...] = (
    KeyCreated, KeyUpdated, KeyBlocked, KeyUnblocked, KeyDeleted, KeyRegenerated,
    UserCreated, UserUpdated, UserDeleted,
    TeamCreated, TeamUpdated, TeamDeleted, TeamBlocked, TeamUnblocked, TeamMemberAdded,
    TeamMemberRemoved,
    OrganizationCreated, OrganizationUpdated, OrganizationDeleted, OrganizationMemberAdded,
    OrganizationMemberUpdated, OrganizationMemberRemoved,
    EndUserCreated, EndUserUpdated, EndUserDeleted, EndUserBlocked, EndUserUnblocked,
)
"""Every admin event type, in the order they are documented."""

_ = (datetime, Any)  # NOTE: resolved by msgspec at run time.
