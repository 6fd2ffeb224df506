"""The control state: every organization, team, user, end user and key, in this process's memory.

It changes only by applying admin events (``apply``), the same events every other instance
applies, so all instances converge on the same state. Each event carries the whole entity after
the change, so applying is "put ``after``" or "remove", guarded by the entity's revision: an event
older than what is applied (the bus echoing this instance's own change after a newer local one, a
replay at startup) is skipped, so a block or a deletion is never undone, even for a moment. At
startup the state is loaded from the control projection, then every admin event on the bus is
applied on top.

Authentication reads it with one dict lookup by key hash; nothing here touches a database.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Iterator
from datetime import datetime
from typing import Protocol, TypeVar

from ingress.admission import Limit
from ingress.control.limits import LimitedEntity, scope_limits
from schemas.events import (
    AdminChange,
    ChangeOutcome,
    EndUserState,
    EntityLimits,
    EntityState,
    EventEnvelope,
    KeyState,
    OrgState,
    TeamState,
    UserState,
    decode_payload,
)

__all__ = ["ControlState", "LimitSubject"]

_log = logging.getLogger("llmux.control")

S = TypeVar("S", KeyState, UserState, TeamState, OrgState, EndUserState)

_LIMITS_CACHE_MAX = 50_000


class LimitSubject(Protocol):
    """Who a request runs as (``ingress.auth.Caller`` is one)."""

    @property
    def key(self) -> KeyState | None: ...
    @property
    def user(self) -> UserState | None: ...
    @property
    def team(self) -> TeamState | None: ...
    @property
    def org_id(self) -> str | None: ...


class ControlState:
    """Entities by id, plus keys by hash; ``generation`` grows with every change applied."""

    def __init__(self) -> None:
        self._keys: dict[str, KeyState] = {}
        self._key_ids_by_hash: dict[str, str] = {}
        self._users: dict[str, UserState] = {}
        self._teams: dict[str, TeamState] = {}
        self._orgs: dict[str, OrgState] = {}
        self._end_users: dict[str, EndUserState] = {}
        self._revisions: dict[tuple[str, str], int] = {}
        """The revision applied per entity, deleted ones included (their tombstones)."""
        self.generation = 0
        """Bumped by every change: anything derived from the state is stale once it moves."""
        self._limits: dict[tuple[str | None, str, str | None], tuple[Limit, ...]] = {}
        self._limits_generation = 0

    # -- applying events ---------------------------------------------------------------------

    def apply(self, envelope: EventEnvelope) -> bool:
        """Apply one envelope from the bus; False (nothing changed) for anything but a change."""
        if not envelope.type.startswith("admin."):
            return False
        try:
            payload = decode_payload(envelope)
        except ValueError:
            _log.warning("ignored an admin event that does not decode",
                         extra={"event_id": str(envelope.id), "event_type": envelope.type})
            return False
        if not isinstance(payload, AdminChange):
            return False
        self.apply_change(payload, envelope.occurred_at)
        return True

    def apply_change(self, change: AdminChange, occurred_at: datetime) -> None:
        outcome = change.outcome(occurred_at)
        if outcome is not None:
            self.apply_outcome(outcome)

    def apply_outcome(self, outcome: ChangeOutcome) -> bool:
        """Apply unless an equal or newer revision of the entity is applied; True if applied."""
        kind, entity_id, after, revision = outcome
        if revision < self._revisions.get((kind, entity_id), -1):
            return False
        self._revisions[(kind, entity_id)] = revision
        if after is None:
            self._remove(kind, entity_id)
        else:
            self.put(after)
        self.generation += 1
        return True

    def next_revision(self, kind: str, entity_id: str) -> int:
        """The revision of the next change of an entity (after a deletion too)."""
        return self._revisions.get((kind, entity_id), -1) + 1

    def load(self, entities: Iterable[EntityState]) -> None:
        """Put every entity (a snapshot from the control projection)."""
        for entity in entities:
            self.apply_outcome(ChangeOutcome(entity.KIND, entity.entity_id, entity,
                                             entity.revision))
        self.generation += 1

    def put(self, entity: EntityState) -> None:
        """Store ``entity`` as is (no revision check: use ``apply_outcome`` for changes)."""
        match entity:
            case KeyState():
                self._put_key(entity)
            case UserState():
                self._users[entity.user_id] = entity
            case TeamState():
                self._teams[entity.team_id] = entity
            case OrgState():
                self._orgs[entity.org_id] = entity
            case EndUserState():
                self._end_users[entity.end_user_id] = entity

    def _put_key(self, key: KeyState) -> None:
        self._forget_hash(key.key_id)
        self._keys[key.key_id] = key
        self._key_ids_by_hash[key.key_hash] = key.key_id

    def _forget_hash(self, key_id: str) -> None:
        old = self._keys.get(key_id)
        if old is not None and self._key_ids_by_hash.get(old.key_hash) == key_id:
            del self._key_ids_by_hash[old.key_hash]

    def _remove(self, kind: str, entity_id: str) -> None:
        match kind:
            case KeyState.KIND:
                self._forget_hash(entity_id)
                self._keys.pop(entity_id, None)
            case UserState.KIND:
                self._users.pop(entity_id, None)
            case TeamState.KIND:
                self._teams.pop(entity_id, None)
            case OrgState.KIND:
                self._orgs.pop(entity_id, None)
            case EndUserState.KIND:
                self._end_users.pop(entity_id, None)

    # -- lookups -----------------------------------------------------------------------------

    def key_by_hash(self, key_hash: str) -> KeyState | None:
        key_id = self._key_ids_by_hash.get(key_hash)
        return self._keys.get(key_id) if key_id is not None else None

    def key(self, key_id: str | None) -> KeyState | None:
        return self._keys.get(key_id) if key_id else None

    def user(self, user_id: str | None) -> UserState | None:
        return self._users.get(user_id) if user_id else None

    def team(self, team_id: str | None) -> TeamState | None:
        return self._teams.get(team_id) if team_id else None

    def org(self, org_id: str | None) -> OrgState | None:
        return self._orgs.get(org_id) if org_id else None

    def end_user(self, end_user_id: str | None) -> EndUserState | None:
        return self._end_users.get(end_user_id) if end_user_id else None

    def all_keys(self) -> list[KeyState]:
        return _sorted(self._keys.values(), lambda key: key.key_id)

    def all_users(self) -> list[UserState]:
        return _sorted(self._users.values(), lambda user: user.user_id)

    def all_teams(self) -> list[TeamState]:
        return _sorted(self._teams.values(), lambda team: team.team_id)

    def all_orgs(self) -> list[OrgState]:
        return _sorted(self._orgs.values(), lambda org: org.org_id)

    def all_end_users(self) -> list[EndUserState]:
        return _sorted(self._end_users.values(), lambda end_user: end_user.end_user_id)

    def entities(self) -> Iterator[EntityState]:
        """Every entity (orgs, teams, users, end users, then keys)."""
        yield from self.all_orgs()
        yield from self.all_teams()
        yield from self.all_users()
        yield from self.all_end_users()
        yield from self.all_keys()

    # -- limits ------------------------------------------------------------------------------

    def limits_for(self, caller: LimitSubject, model: str,
                   end_user: str | None = None) -> tuple[Limit, ...]:
        """Every limit a request by ``caller`` for ``model`` (on behalf of ``end_user``) obeys.

        In admission order: key, user, team, org member, org, end user (each followed by its
        per-model scope). Cached until the state changes, so the hot path pays a dict lookup.
        """
        if self._limits_generation != self.generation or len(self._limits) > _LIMITS_CACHE_MAX:
            self._limits.clear()
            self._limits_generation = self.generation
        cache_key = (caller.key.key_id if caller.key else None, model, end_user)
        found = self._limits.get(cache_key)
        if found is None:
            found = tuple(scope_limits(self._limited_path(caller, end_user), model))
            self._limits[cache_key] = found
        return found

    def _limited_path(self, caller: LimitSubject, end_user: str | None) -> list[LimitedEntity]:
        # NOTE: entities are read from the state, not from the caller: a caller resolved before
        # a change must not put stale limits in the cache of the new generation.
        key = self.key(caller.key.key_id) or caller.key if caller.key else None
        path: list[LimitedEntity] = []
        org = None
        if key is not None:
            user, team = self.user(key.user_id), self.team(key.team_id)
            path.extend(LimitedEntity.of(entity) for entity in (key, user, team)
                        if entity is not None)
            org = self.org(self.key_org_id(key))
            if org is not None:
                path.extend(_org_path(org, user))
        end_user_state = self.end_user(end_user)
        if end_user_state is not None:
            path.append(LimitedEntity.of(end_user_state))
        return path

    # -- relations (management reads only; PERF: linear scans, fine for thousands) -----------

    def key_org_id(self, key: KeyState) -> str | None:
        """The organization a key lies under: its own, its team's, or its user's."""
        if key.org_id:
            return key.org_id
        team = self.team(key.team_id)
        if team is not None and team.org_id:
            return team.org_id
        user = self.user(key.user_id)
        return user.org_id if user is not None else None

    def user_org_ids(self, user: UserState) -> set[str]:
        """Organizations ``user`` belongs to (by ``org_id`` or by membership)."""
        found = {org.org_id for org in self._orgs.values() if org.member(user.user_id)}
        if user.org_id:
            found.add(user.org_id)
        return found

    def teams_of_user(self, user_id: str) -> list[TeamState]:
        return [team for team in self.all_teams() if team.role_of(user_id) is not None]

    def keys_of(self, *, user_id: str | None = None, team_id: str | None = None) -> list[KeyState]:
        return [key for key in self.all_keys()
                if (user_id is None or key.user_id == user_id)
                and (team_id is None or key.team_id == team_id)]

    def __len__(self) -> int:
        return len(self._keys)


def _org_path(org: OrgState, user: UserState | None) -> list[LimitedEntity]:
    """The org member's own budget (if any), then the org's limits."""
    path = []
    member = org.member(user.user_id) if user is not None else None
    if member is not None and member.max_budget_micros is not None:
        member_limits = EntityLimits(max_budget_micros=member.max_budget_micros,
                                     budget_duration=org.limits.budget_duration)
        path.append(LimitedEntity(f"orgmember:{org.org_id}:{member.user_id}", member_limits,
                                  org.created_at))
    path.append(LimitedEntity.of(org))
    return path


def _sorted(values: Iterable[S], by: Callable[[S], str]) -> list[S]:
    return sorted(values, key=by)
