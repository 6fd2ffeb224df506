"""Event types and their registry.

``EVENT_TYPES`` maps a type name to its payload class. It is written out by hand: a new event type
is added here on purpose, and a test pins the list.
"""

from __future__ import annotations

from typing import Any

import msgspec

from schemas.events.admin import (
    ADMIN_EVENT_TYPES,
    AdminChange,
    ChangeOutcome,
    EndUserBlocked,
    EndUserChange,
    EndUserCreated,
    EndUserDeleted,
    EndUserUnblocked,
    EndUserUpdated,
    EntityState,
    KeyBlocked,
    KeyChange,
    KeyCreated,
    KeyDeleted,
    KeyRegenerated,
    KeyUnblocked,
    KeyUpdated,
    OrganizationChange,
    OrganizationCreated,
    OrganizationDeleted,
    OrganizationMemberAdded,
    OrganizationMemberRemoved,
    OrganizationMemberUpdated,
    OrganizationUpdated,
    TeamBlocked,
    TeamChange,
    TeamCreated,
    TeamDeleted,
    TeamMemberAdded,
    TeamMemberRemoved,
    TeamUnblocked,
    TeamUpdated,
    UserChange,
    UserCreated,
    UserDeleted,
    UserUpdated,
)
from schemas.events.budget import BudgetSoftLimitCrossed
from schemas.events.entities import (
    ORG_ROLES,
    TEAM_ROLES,
    USER_ROLES,
    EndUserState,
    EntityLimits,
    KeyState,
    OrgMember,
    OrgRole,
    OrgState,
    TeamMember,
    TeamRole,
    TeamState,
    UserRole,
    UserState,
)
from schemas.events.envelope import (
    EVENT_NAMESPACE,
    EventEnvelope,
    EventPayload,
    decode_envelope,
    derive_event_id,
    encode_envelope,
    request_event_id,
)
from schemas.events.gateway import GatewayStarted
from schemas.events.request import RequestCompleted, RequestFailed, RequestRejected
from schemas.events.usage import UsageRecorded

__all__ = [
    "ADMIN_EVENT_TYPES",
    "EVENT_NAMESPACE",
    "EVENT_TYPES",
    "ORG_ROLES",
    "TEAM_ROLES",
    "USER_ROLES",
    "AdminChange",
    "BudgetSoftLimitCrossed",
    "ChangeOutcome",
    "EndUserBlocked",
    "EndUserChange",
    "EndUserCreated",
    "EndUserDeleted",
    "EndUserState",
    "EndUserUnblocked",
    "EndUserUpdated",
    "EntityLimits",
    "EntityState",
    "EventEnvelope",
    "EventPayload",
    "GatewayStarted",
    "KeyBlocked",
    "KeyChange",
    "KeyCreated",
    "KeyDeleted",
    "KeyRegenerated",
    "KeyState",
    "KeyUnblocked",
    "KeyUpdated",
    "OrgMember",
    "OrgRole",
    "OrgState",
    "OrganizationChange",
    "OrganizationCreated",
    "OrganizationDeleted",
    "OrganizationMemberAdded",
    "OrganizationMemberRemoved",
    "OrganizationMemberUpdated",
    "OrganizationUpdated",
    "RequestCompleted",
    "RequestFailed",
    "RequestRejected",
    "TeamBlocked",
    "TeamChange",
    "TeamCreated",
    "TeamDeleted",
    "TeamMember",
    "TeamMemberAdded",
    "TeamMemberRemoved",
    "TeamRole",
    "TeamState",
    "TeamUnblocked",
    "TeamUpdated",
    "UnknownEventType",
    "UsageRecorded",
    "UserChange",
    "UserCreated",
    "UserDeleted",
    "UserRole",
    "UserState",
    "UserUpdated",
    "decode_envelope",
    "decode_payload",
    "derive_event_id",
    "encode_envelope",
    "request_event_id",
]

_ALL_TYPES: tuple[type[EventPayload], ...] = (
    RequestCompleted, RequestFailed, RequestRejected, UsageRecorded, *ADMIN_EVENT_TYPES,
    BudgetSoftLimitCrossed, GatewayStarted,
)
EVENT_TYPES: dict[str, type[EventPayload]] = {cls.TYPE: cls for cls in _ALL_TYPES}


class UnknownEventType(ValueError):
    """An envelope names a type this build does not know (it is still stored and replayed raw)."""


def decode_payload(envelope: EventEnvelope) -> EventPayload:
    """The typed payload of ``envelope``, upcast from its stored version to the current one."""
    cls = EVENT_TYPES.get(envelope.type)
    if cls is None:
        raise UnknownEventType(envelope.type)
    if envelope.version == cls.VERSION:
        return msgspec.json.decode(envelope.payload, type=cls)
    data: dict[str, Any] = msgspec.json.decode(envelope.payload)
    for version in range(envelope.version, cls.VERSION):
        data = getattr(cls, f"upcast_v{version}_v{version + 1}")(data)
    return msgspec.convert(data, cls)
