"""Virtual keys: generate, update, block, regenerate, delete, read.

The raw key exists only in the response to the request that made it (``generate`` and
``regenerate``): the control state, the events, the projections and the logs carry its HMAC hash
and a short prefix. Every change is one admin event with the key before and after.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from typing import Any

import msgspec

from ingress.auth import Caller, KeyRegistry
from ingress.control.authz import Permissions
from ingress.control.changes import ChangeContext, ChangeRecorder
from ingress.control.fields import apply_limits, expiry, is_set, merged_metadata
from ingress.control.service import ListQuery
from ingress.control.views import key_view, page
from ingress.secrets import new_raw_key
from schemas.errors import InvalidRequest, NotFound
from schemas.events import (
    EntityLimits,
    KeyBlocked,
    KeyChange,
    KeyCreated,
    KeyDeleted,
    KeyRegenerated,
    KeyState,
    KeyUnblocked,
    KeyUpdated,
)
from schemas.management import (
    KeyDeleteRequest,
    KeyGenerateRequest,
    KeyRegenerateRequest,
    KeyUpdateRequest,
)

__all__ = ["KeyManagement"]

_PREFIX_LENGTH = 13  # "sk-llmux-" and four random characters
_OWNER_FIELDS = frozenset({"key", "key_alias", "key_name", "metadata"})
"""What a key's own user may change; anything else needs the key's team or org admin."""


class KeyManagement:
    def __init__(self, registry: KeyRegistry, recorder: ChangeRecorder,
                 permissions: Permissions) -> None:
        self._registry = registry
        self._state = registry.state
        self._recorder = recorder
        self._permissions = permissions

    # -- reads ---------------------------------------------------------------------------

    def info(self, caller: Caller, ref: str | None) -> dict[str, Any]:
        """``/key/info``: the key named by ``ref`` (id or the key itself), else the caller's."""
        key = self.find(caller, ref) if ref else self._own_key(caller)
        return {"key": key.key_id, "info": key_view(key)}

    def listing(self, caller: Caller, query: ListQuery) -> dict[str, Any]:
        keys = [key for key in self._state.all_keys()
                if self._permissions.can_read_key(caller, key) and _matches(key, query)]
        body = page([key_view(key) for key in keys], query.limit, query.offset)
        body["keys"] = [item["token_id"] for item in body["data"]]
        return body

    def has_key(self, raw_key: str) -> bool:
        """Whether a key with this secret exists (blocked or expired ones included)."""
        return self._state.key_by_hash(self._registry.hash_key(raw_key)) is not None

    def count(self) -> int:
        return len(self._state)

    def find(self, caller: Caller, ref: str) -> KeyState:
        """The key with id ``ref`` (or whose raw key is ``ref``) that ``caller`` may read."""
        key = self._state.key(ref) or self._state.key_by_hash(self._registry.hash_key(ref))
        if key is None or not self._permissions.can_read_key(caller, key):
            # NOTE: never echo ``ref``: it may be a raw key.
            raise NotFound("The key was not found.", param="key", code="key_not_found")
        return key

    def _own_key(self, caller: Caller) -> KeyState:
        if caller.key is None:
            raise InvalidRequest("Missing required parameter: 'key'.", param="key",
                                 code="missing_required_parameter")
        return self.find(caller, caller.key.key_id)

    # -- changes -------------------------------------------------------------------------

    def generate(self, context: ChangeContext, request: KeyGenerateRequest,
                 raw_key: str | None = None) -> dict[str, Any]:
        """Create a key; the returned body holds the raw key, which is never shown again."""
        user_id = self._authorize_generate(context.caller, request)
        raw_key = raw_key or new_raw_key()
        event = KeyCreated(
            key_id=uuid.uuid4().hex, key_hash=self._registry.hash_key(raw_key),
            key_prefix=raw_key[:_PREFIX_LENGTH], key_alias=request.key_alias or request.key_name,
            key_name=request.key_name, user_id=user_id, team_id=request.team_id,
            org_id=request.organization_id,
            models=list(request.models) if isinstance(request.models, list) else [],
            metadata=merged_metadata({}, request), limits=apply_limits(EntityLimits(), request),
            expires=expiry(request.duration, context.now),
            blocked=request.blocked if isinstance(request.blocked, bool) else False,
            key_type=request.key_type, auto_rotate=request.auto_rotate,
            rotation_interval=request.rotation_interval, source_ip=context.source_ip,
        )
        self._recorder.record(context, event)
        return {"key": raw_key, **key_view(event.state(context.now))}

    def update(self, context: ChangeContext, request: KeyUpdateRequest) -> dict[str, Any]:
        key = self.find(context.caller, request.key)
        after = self._updated(context, key, request)
        self._record(context, KeyUpdated, key, after)
        return key_view(after)

    def regenerate(self, context: ChangeContext, request: KeyRegenerateRequest) -> dict[str, Any]:
        """A new secret for the same key id; the old secret stops working everywhere."""
        key = self.find(context.caller, request.key)
        raw_key = new_raw_key()
        after = msgspec.structs.replace(
            self._updated(context, key, request),
            key_hash=self._registry.hash_key(raw_key), key_prefix=raw_key[:_PREFIX_LENGTH],
            rotation_count=key.rotation_count + 1, last_rotation_at=context.now,
        )
        self._record(context, KeyRegenerated, key, after)
        return {"key": raw_key, **key_view(after)}

    def set_blocked(self, context: ChangeContext, ref: str, blocked: bool) -> dict[str, Any]:
        """Block (its user may) or unblock (its team or org admin only) a key."""
        key = self.find(context.caller, ref)
        caller = context.caller
        self._permissions.require_write(caller)
        may = self._permissions.manages_key(caller, key) or (
            blocked and self._permissions.owns_key(caller, key))
        self._permissions.require(may, "Only the key's team or organization admin may do this.")
        if key.blocked != blocked:
            after = msgspec.structs.replace(key, blocked=blocked, updated_at=context.now)
            self._record(context, KeyBlocked if blocked else KeyUnblocked, key, after)
            key = after
        return key_view(key)

    def delete(self, context: ChangeContext, request: KeyDeleteRequest) -> dict[str, Any]:
        caller = context.caller
        keys = [self.find(caller, ref) for ref in request.keys]
        keys += [self._by_alias(caller, alias) for alias in request.key_aliases]
        if not keys:
            raise InvalidRequest("Name the keys to delete in 'keys'.", param="keys")
        self._permissions.require_write(caller)
        for key in keys:
            self._permissions.require(
                self._permissions.manages_key(caller, key)
                or self._permissions.owns_key(caller, key),
                "Only the key's user, team admin or organization admin may delete it.")
        self.remove(context, keys)
        return {"deleted_keys": [key.key_id for key in keys]}

    def remove(self, context: ChangeContext, keys: Sequence[KeyState]) -> None:
        """Delete ``keys`` (already authorized; also used when their user or team is deleted)."""
        for key in {key.key_id: key for key in keys}.values():
            self._recorder.record(context, KeyDeleted(
                key_id=key.key_id, before=key, after=None, source_ip=context.source_ip))

    # -- helpers -------------------------------------------------------------------------

    def _record(self, context: ChangeContext, event_type: type[KeyChange], before: KeyState,
                after: KeyState) -> None:
        self._recorder.record(context, event_type(
            key_id=before.key_id, before=before, after=after, source_ip=context.source_ip))

    def _by_alias(self, caller: Caller, alias: str) -> KeyState:
        for key in self._state.all_keys():
            if key.key_alias == alias and self._permissions.can_read_key(caller, key):
                return key
        raise NotFound("The key was not found.", param="key_aliases", code="key_not_found")

    def _authorize_generate(self, caller: Caller, request: KeyGenerateRequest) -> str | None:
        """Check ``caller`` may create this key; returns its user (a user's own key by default)."""
        permissions, state = self._permissions, self._state
        permissions.require_write(caller)
        team = _existing(state.team(request.team_id), request.team_id, "team_id")
        user = _existing(state.user(request.user_id), request.user_id, "user_id")
        _existing(state.org(request.organization_id), request.organization_id, "organization_id")
        if team is not None and request.organization_id and team.org_id != request.organization_id:
            raise InvalidRequest("The team belongs to another organization.",
                                 param="organization_id")
        if request.key_type == "management":
            permissions.require(caller.is_admin, "Only a proxy admin may create management keys.")
        org_id = request.organization_id or (team.org_id if team else None) or (
            user.org_id if user else None)
        if permissions.is_org_admin(caller, org_id) or (
                team is not None and permissions.is_team_admin(caller, team)):
            return request.user_id
        own = request.user_id in (None, caller.user_id) and caller.user is not None
        member = team is None or team.role_of(caller.user_id) is not None
        permissions.require(own and member, "You may only create keys for yourself.")
        return caller.user_id

    def _updated(self, context: ChangeContext, key: KeyState,
                 request: KeyUpdateRequest) -> KeyState:
        caller, permissions = context.caller, self._permissions
        permissions.require_write(caller)
        sent = {name for name in request.__struct_fields__ if is_set(getattr(request, name))}
        may = permissions.manages_key(caller, key) or (
            permissions.owns_key(caller, key) and sent <= _OWNER_FIELDS)
        permissions.require(may, "Only the key's team or organization admin may change this.")
        after = _apply_update(key, request, context)
        if request.key_type == "management":
            permissions.require(caller.is_admin, "Only a proxy admin may create management keys.")
        _existing(self._state.team(after.team_id), after.team_id, "team_id")
        _existing(self._state.user(after.user_id), after.user_id, "user_id")
        _existing(self._state.org(after.org_id), after.org_id, "organization_id")
        moved = (after.team_id, after.user_id, after.org_id) != (key.team_id, key.user_id,
                                                                  key.org_id)
        permissions.require(not moved or permissions.manages_key(caller, after),
                            "You may not move a key outside what you manage.")
        return after


def _apply_update(key: KeyState, request: KeyUpdateRequest, context: ChangeContext) -> KeyState:
    changes: dict[str, Any] = {"updated_at": context.now,
                               "limits": apply_limits(key.limits, request),
                               "metadata": merged_metadata(key.metadata, request)}
    for name, target in (("key_alias", "key_alias"), ("key_name", "key_name"),
                         ("user_id", "user_id"), ("team_id", "team_id"),
                         ("organization_id", "org_id"), ("key_type", "key_type"),
                         ("auto_rotate", "auto_rotate"), ("rotation_interval", "rotation_interval"),
                         ("models", "models"), ("blocked", "blocked")):
        value = getattr(request, name)
        if is_set(value):
            changes[target] = value
    if isinstance(request.duration, str) or request.duration is None:
        changes["expires"] = expiry(request.duration, context.now)
    return msgspec.structs.replace(key, **changes)


def _existing(entity: Any, entity_id: str | None, field: str) -> Any:
    if entity_id and entity is None:
        raise InvalidRequest(f"{field} {entity_id!r} does not exist.", param=field)
    return entity


def _matches(key: KeyState, query: ListQuery) -> bool:
    return ((query.team_id is None or key.team_id == query.team_id)
            and (query.user_id is None or key.user_id == query.user_id)
            and (query.organization_id is None or key.org_id == query.organization_id)
            and (query.key_alias is None or key.key_alias == query.key_alias))
