"""Authentication against the control state: hashes only, blocks and expiry, roles."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import msgspec
import pytest

from ingress.auth import KeyRegistry
from ingress.control import ControlState
from schemas.errors import AuthenticationFailed, LLMuxError, PermissionDenied
from schemas.events import KeyBlocked, KeyState, TeamBlocked
from tests.ingress.control.factories import key, org, team, user, wrap


def _with_key(registry: KeyRegistry, raw: str, **fields: object) -> KeyState:
    record = msgspec.structs.replace(key(raw.removeprefix("sk-")), **fields)
    record = msgspec.structs.replace(record, key_hash=registry.hash_key(raw), key_prefix=raw[:5])
    registry.state.put(record)
    registry.state.generation += 1
    return record


@pytest.fixture
def registry() -> KeyRegistry:
    state = ControlState()
    state.load([org("o1"), team("t1", org_id="o1"), user("admin-user", user_role="proxy_admin"),
                user("viewer", user_role="proxy_admin_viewer"), user("u1", org_id="o1")])
    return KeyRegistry(b"secret", "sk-master", state)


def _code(registry: KeyRegistry, raw: str) -> str | None:
    try:
        registry.authenticate(raw)
    except LLMuxError as error:
        return f"{error.status}:{error.code}"
    return None


def test_master_key_and_user_roles(registry: KeyRegistry) -> None:
    assert registry.authenticate("sk-master").is_admin
    _with_key(registry, "sk-admin", user_id="admin-user")
    _with_key(registry, "sk-viewer", user_id="viewer")
    _with_key(registry, "sk-plain")
    _with_key(registry, "sk-mgmt", key_type="management")
    assert registry.authenticate("sk-admin").is_admin
    viewer = registry.authenticate("sk-viewer")
    assert viewer.role == "proxy_admin_viewer" and not viewer.is_admin and viewer.is_read_only
    plain = registry.authenticate("sk-plain")
    assert plain.role is None and plain.actor == "key:plain"
    assert registry.authenticate("sk-mgmt").is_admin
    with pytest.raises(PermissionDenied):
        plain.require_admin()
    with pytest.raises(PermissionDenied):
        viewer.require_admin()
    viewer.require_admin_read()


def test_unknown_missing_blocked_and_expired_keys_are_refused(registry: KeyRegistry) -> None:
    now = datetime.now(UTC)
    _with_key(registry, "sk-old", expires=now - timedelta(seconds=1))
    _with_key(registry, "sk-later", expires=now + timedelta(hours=1))
    _with_key(registry, "sk-blocked", blocked=True)
    assert _code(registry, "sk-nope") == "401:invalid_api_key"
    assert _code(registry, "") == "401:missing_api_key"
    assert _code(registry, "sk-old") == "401:key_expired"
    assert _code(registry, "sk-blocked") == "401:key_blocked"
    assert _code(registry, "sk-later") is None


def test_a_block_above_the_key_refuses_it_until_unblocked(registry: KeyRegistry) -> None:
    record = _with_key(registry, "sk-team", team_id="t1")
    _with_key(registry, "sk-user", user_id="u1")
    assert _code(registry, "sk-team") is None  # cached now
    t1 = registry.state.team("t1")
    assert t1 is not None
    blocked_team = msgspec.structs.replace(t1, blocked=True)
    registry.state.apply(wrap(TeamBlocked(team_id="t1", before=t1, after=blocked_team)))
    assert _code(registry, "sk-team") == "403:team_blocked"
    o1 = registry.state.org("o1")
    assert o1 is not None
    registry.state.put(msgspec.structs.replace(o1, blocked=True))
    registry.state.generation += 1
    assert _code(registry, "sk-user") == "403:organization_blocked"  # the user's org
    registry.state.apply(wrap(KeyBlocked(key_id=record.key_id, before=record,
                                         after=msgspec.structs.replace(record, blocked=True))))
    assert _code(registry, "sk-team") == "401:key_blocked"


def test_only_hashes_are_kept(registry: KeyRegistry) -> None:
    _with_key(registry, "sk-secret-value", key_id="k-secret")
    assert registry.hash_key("sk-secret-value") != "sk-secret-value"
    assert "sk-secret-value" not in repr(list(registry.state.entities()))
    with pytest.raises(AuthenticationFailed) as refused:
        registry.authenticate("sk-secret-valuX")
    assert "sk-secret" not in refused.value.message
