"""Model access: every allow list on the caller's path must allow the model; groups expand."""

from __future__ import annotations

import pytest

from ingress.auth import KeyRegistry
from ingress.control import ControlState, ModelAccess, expand_allow_list
from schemas.errors import PermissionDenied
from schemas.events import EndUserState
from tests.ingress.control.factories import T0, key, org, team, user

MODELS = ["gpt-4o", "gpt-4o-mini", "claude", "gemini"]


def _registry(*entities: object, groups: dict[str, list[str]] | None = None) -> KeyRegistry:
    state = ControlState()
    state.load(entities)  # type: ignore[arg-type]  # entity states
    registry = KeyRegistry(b"secret", "sk-master", state, access_groups=groups)
    return registry


def _visible(registry: KeyRegistry, key_id: str, end_user: str | None = None) -> list[str]:
    state_key = registry.state.key(key_id)
    assert state_key is not None
    caller = registry._resolve(state_key)
    return [model for model in MODELS if caller.may_use(model, end_user)]


@pytest.mark.parametrize(("models", "expected"), [
    ([], None), (["*"], None), (["a", "*"], None), (["a", "b"], {"a", "b"}),
    (["fast"], {"m1", "m2"}), (["fast", "x"], {"m1", "m2", "x"}), (["everything"], None),
])
def test_allow_lists_expand_groups(models: list[str], expected: set[str] | None) -> None:
    groups = {"fast": ["m1", "m2"], "everything": ["*"]}
    assert expand_allow_list(models, groups) == (None if expected is None else frozenset(expected))


def test_access_is_the_intersection_of_every_level() -> None:
    registry = _registry(
        org("o1", models=["gpt-4o", "gpt-4o-mini", "claude"]),
        team("t1", org_id="o1", models=["gpt-4o", "claude", "gemini"]),
        user("u1", org_id="o1", models=["*"]),
        key("k1", team_id="t1", user_id="u1", models=["gpt-4o", "gemini"]),
        key("k2", team_id="t1", user_id="u1"),
        key("k3"),
    )
    assert _visible(registry, "k1") == ["gpt-4o"]  # gemini: not in the org's list
    assert _visible(registry, "k2") == ["gpt-4o", "claude"]
    assert _visible(registry, "k3") == MODELS


def test_groups_come_from_config_org_and_team_with_the_team_winning() -> None:
    registry = _registry(
        org("o1", model_groups={"pro": ["gpt-4o"], "cheap": ["gpt-4o-mini"]}),
        team("t1", org_id="o1", model_groups={"pro": ["claude", "gemini"]}),
        key("in-team", team_id="t1", models=["pro", "cheap"]),
        key("in-org", org_id="o1", models=["pro"]),
        key("global", models=["beta"]),
        groups={"beta": ["gemini"], "pro": ["nothing"]},
    )
    assert _visible(registry, "in-team") == ["gpt-4o-mini", "claude", "gemini"]
    assert _visible(registry, "in-org") == ["gpt-4o"]
    assert _visible(registry, "global") == ["gemini"]


def test_end_user_lists_and_blocks_apply_to_any_key() -> None:
    registry = _registry(
        key("k1"),
        EndUserState(end_user_id="bob", created_at=T0, models=["claude"]),
        EndUserState(end_user_id="eve", created_at=T0, blocked=True),
    )
    assert _visible(registry, "k1", "bob") == ["claude"]
    assert _visible(registry, "k1", "someone-unknown") == MODELS
    caller = registry.authenticate("sk-master")
    with pytest.raises(PermissionDenied) as denied:
        caller.check_model("claude", end_user="eve")
    assert denied.value.code == "end_user_blocked"
    with pytest.raises(PermissionDenied) as refused:
        caller.check_model("gpt-4o", end_user="bob")
    assert refused.value.code == "model_not_allowed" and refused.value.param == "model"


def test_unrestricted_access_allows_anything() -> None:
    assert ModelAccess().allows("anything")
    assert ModelAccess.build([[], ["*"]], {}).is_unrestricted
