"""Entities and admin events for control-plane tests."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from schemas.events import (
    AdminChange,
    EntityLimits,
    EventEnvelope,
    KeyState,
    OrgMember,
    OrgState,
    TeamMember,
    TeamState,
    UserState,
)

T0 = datetime(2026, 3, 1, 9, 30, tzinfo=UTC)


def key(key_id: str, **fields: Any) -> KeyState:
    return KeyState(key_id=key_id, key_hash=f"hash-{key_id}", key_prefix=f"sk-{key_id}",
                    created_at=T0, **fields)


def user(user_id: str, **fields: Any) -> UserState:
    return UserState(user_id=user_id, created_at=T0, **fields)


def team(team_id: str, members: dict[str, str] | None = None, **fields: Any) -> TeamState:
    listed = [TeamMember(user_id=u, role=r) for u, r in (members or {}).items()]  # type: ignore[arg-type]  # roles are literals
    return TeamState(team_id=team_id, created_at=T0, members=listed, **fields)


def org(org_id: str, members: dict[str, str] | None = None, **fields: Any) -> OrgState:
    listed = [OrgMember(user_id=u, user_role=r) for u, r in (members or {}).items()]  # type: ignore[arg-type]  # roles are literals
    return OrgState(org_id=org_id, created_at=T0, members=listed, **fields)


def limits(**fields: Any) -> EntityLimits:
    return EntityLimits(**fields)


def wrap(change: AdminChange, when: datetime = T0) -> EventEnvelope:
    return EventEnvelope.wrap(change, actor="admin", occurred_at=when)
