"""Who is calling: the check on every request, against the in-memory control state.

Keys are stored only as HMAC-SHA256 hashes under the server's hash secret, so neither the event log
nor the database can give a key back. Authenticating a request is one HMAC and one dict lookup in
the control state (never a database read), plus a check that the key is not blocked or expired and
that its team, user and organization are not blocked. The resolved :class:`Caller` (role, allow
lists) is cached per key until the control state changes.

Roles: the master key acts as ``proxy_admin``. A key that belongs to a user acts with that user's
``user_role``; a key of ``key_type`` ``management`` without a user acts as ``proxy_admin`` (only a
proxy admin can create one); any other key has no management role and can only read itself.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime

from ingress.control.access import ModelAccess
from ingress.control.state import ControlState
from schemas.errors import AuthenticationFailed, PermissionDenied
from schemas.events import KeyState, TeamState, UserState

__all__ = ["ADMIN_ROLES", "Caller", "KeyRegistry", "bearer_token"]

PROXY_ADMIN = "proxy_admin"
ADMIN_ROLES = frozenset({"proxy_admin", "proxy_admin_viewer"})
"""Roles that see everything (the viewer only reads)."""
_READ_ONLY_ROLES = frozenset({"proxy_admin_viewer", "internal_user_viewer"})


@dataclass(frozen=True, slots=True)
class Caller:
    """The authenticated caller of one request (on ``req.context.caller``)."""

    role: str | None = None
    """``proxy_admin`` ... ``internal_user_viewer``; None for a key that acts for no user."""
    key: KeyState | None = None
    user: UserState | None = None
    team: TeamState | None = None
    org_id: str | None = None
    """The organization the caller's key lies under (its own, its team's or its user's)."""
    access: ModelAccess = field(default_factory=ModelAccess)
    groups: Mapping[str, Sequence[str]] = field(default_factory=dict)
    """Access groups visible to this caller (gateway-wide, its org's, its team's)."""
    control: ControlState | None = field(default=None, repr=False, compare=False)
    """The control state, for end-user lookups (in memory)."""

    @classmethod
    def master(cls, control: ControlState | None = None) -> Caller:
        return cls(role=PROXY_ADMIN, control=control)

    @property
    def is_admin(self) -> bool:
        """A proxy admin: may read and change everything."""
        return self.role == PROXY_ADMIN

    @property
    def is_read_only(self) -> bool:
        return self.role in _READ_ONLY_ROLES

    @property
    def key_id(self) -> str | None:
        return self.key.key_id if self.key else None

    @property
    def user_id(self) -> str | None:
        return self.user.user_id if self.user else None

    @property
    def actor(self) -> str:
        """How events name this caller."""
        if self.key is not None:
            return f"key:{self.key.key_id}"
        return "admin" if self.is_admin else "anonymous"

    def may_use(self, model: str, end_user: str | None = None) -> bool:
        """Whether every allow list that applies (end user's included) allows ``model``."""
        if not self.access.allows(model):
            return False
        state = self.control.end_user(end_user) if self.control and end_user else None
        if state is None or not state.models:
            return True
        return self.access.narrowed(state.models, self.groups).allows(model)

    def check_model(self, model: str, end_user: str | None = None) -> None:
        """Raise ``PermissionDenied`` unless this caller (for ``end_user``) may call ``model``."""
        state = self.control.end_user(end_user) if self.control and end_user else None
        if state is not None and state.blocked:
            raise PermissionDenied("This end user is blocked.", param="user",
                                   code="end_user_blocked")
        if not self.may_use(model, end_user):
            raise PermissionDenied(
                f"This key is not allowed to call model {model!r}.", param="model",
                code="model_not_allowed",
            )

    def require_admin(self) -> None:
        """Raise unless a proxy admin (the master key, or a key acting as one) is calling."""
        if not self.is_admin:
            raise PermissionDenied("This endpoint needs an admin key.", code="admin_required")

    def require_admin_read(self) -> None:
        """Raise unless a proxy admin or a proxy admin viewer is calling (read-only endpoints)."""
        if self.role not in ADMIN_ROLES:
            raise PermissionDenied("This endpoint needs an admin key.", code="admin_required")


def bearer_token(authorization: str | None, api_key_header: str | None) -> str | None:
    """The key from ``Authorization: Bearer …`` or Anthropic's ``x-api-key``."""
    if authorization:
        scheme, _, token = authorization.partition(" ")
        if scheme.lower() == "bearer" and token.strip():
            return token.strip()
        return None
    return api_key_header.strip() if api_key_header else None


class KeyRegistry:
    """Authenticates raw keys against the control state (plus the master key)."""

    def __init__(self, hash_secret: bytes, master_key: str | None, state: ControlState,
                 access_groups: Mapping[str, Sequence[str]] | None = None) -> None:
        self._hash_secret = hash_secret
        self._master_hash = self.hash_key(master_key) if master_key else None
        self.state = state
        self._access_groups = dict(access_groups or {})
        self._callers: dict[str, Caller] = {}
        self._generation = -1

    def hash_key(self, raw_key: str) -> str:
        return hmac.new(self._hash_secret, raw_key.encode(), hashlib.sha256).hexdigest()

    def is_master(self, key_hash: str) -> bool:
        return self._master_hash is not None and hmac.compare_digest(key_hash, self._master_hash)

    def __len__(self) -> int:
        return len(self.state)

    def authenticate(self, raw_key: str | None) -> Caller:
        """The caller for ``raw_key``; ``AuthenticationFailed`` for none, unknown, blocked or
        expired keys, ``PermissionDenied`` when the key's team, user or organization is blocked."""
        if not raw_key:
            raise AuthenticationFailed(
                "You didn't provide an API key. Send it as 'Authorization: Bearer <key>'.",
                code="missing_api_key",
            )
        digest = self.hash_key(raw_key)
        if self.is_master(digest):
            return Caller.master(self.state)
        key = self.state.key_by_hash(digest)
        if key is None:
            raise AuthenticationFailed("Incorrect API key provided.")
        if key.expires is not None and key.expires <= datetime.now(UTC):
            raise AuthenticationFailed("This key has expired.", code="key_expired")
        return self._caller(digest, key)

    def _caller(self, digest: str, key: KeyState) -> Caller:
        if self._generation != self.state.generation:
            self._callers.clear()
            self._generation = self.state.generation
        caller = self._callers.get(digest)
        if caller is None:
            caller = self._resolve(key)
            self._callers[digest] = caller
        return caller

    def _resolve(self, key: KeyState) -> Caller:
        """The caller a key acts as; raises if it, or anything above it, is blocked."""
        state = self.state
        team, user = state.team(key.team_id), state.user(key.user_id)
        org = state.org(state.key_org_id(key))
        if key.blocked:
            raise AuthenticationFailed("This key is blocked.", code="key_blocked")
        for entity, name in ((team, "team"), (user, "user"), (org, "organization")):
            if entity is not None and entity.blocked:
                raise PermissionDenied(f"This key's {name} is blocked.", code=f"{name}_blocked")
        groups = {**self._access_groups, **(org.model_groups if org else {}),
                  **(team.model_groups if team else {})}
        lists = [key.models, *(e.models for e in (team, user, org) if e is not None)]
        role = user.user_role if user else ("proxy_admin" if key.key_type == "management" else None)
        return Caller(role=role, key=key, user=user, team=team, org_id=org.org_id if org else None,
                      access=ModelAccess.build(lists, groups), groups=groups, control=state)
