"""Wildcard model entries: ``provider/<model>`` and name patterns resolve to made deployments."""

from __future__ import annotations

import pytest

from router_engine import BreakerPhase
from router_engine.model_groups import MAX_WILDCARD_GROUPS, ModelGroups
from schemas.config import LLMuxConfig, ModelEntry, ProviderConfig
from schemas.errors import ModelNotFound, UpstreamRateLimited
from tests.router_engine.scripted import (
    BODY,
    FakeClock,
    ScriptedUpstream,
    build_router,
    entry,
    provider,
)


def providers() -> list[ProviderConfig]:
    return [
        provider("anth", ModelEntry(name="claude-*", weight=2)),
        provider("oa", ModelEntry(name="*"), entry("gpt-4o", "gpt-4o")),
        provider("alias", ModelEntry(name="fast-*", upstream_model="gpt-4o-mini")),
    ]


def test_patterns_are_not_groups_and_resolve_on_demand() -> None:
    groups = ModelGroups(LLMuxConfig(providers=providers()))
    assert groups.model_names() == ["gpt-4o"]
    assert [d.id for d in groups.deployments()] == ["oa/gpt-4o"]

    name, [made] = groups.resolve("anth/claude-3-haiku")
    assert (name, made.id, made.upstream_model, made.weight) == (
        "anth/claude-3-haiku", "anth/claude-3-haiku", "claude-3-haiku", 2)
    name, both = groups.resolve("claude-3-opus")
    assert name == "claude-3-opus"
    assert {d.id for d in both} == {"anth/claude-3-opus", "oa/claude-3-opus"}
    assert all(d.model_group == "claude-3-opus" for d in both)
    assert groups.group_size(both[0]) == 2
    upstreams = {d.id: d.upstream_model for d in groups.resolve("fast-lane")[1]}
    assert upstreams == {"oa/fast-lane": "fast-lane", "alias/fast-lane": "gpt-4o-mini"}
    assert groups.resolve("gpt-4o")[1][0].id == "oa/gpt-4o", "a configured group wins"
    assert "anth/claude-3-opus" in {d.id for d in groups.deployments()}
    with pytest.raises(ModelNotFound):
        ModelGroups(LLMuxConfig(providers=providers()[:1])).resolve("gpt-5")


def test_remembered_wildcards_are_bounded() -> None:
    groups = ModelGroups(LLMuxConfig(providers=providers()))
    for index in range(MAX_WILDCARD_GROUPS + 50):
        groups.resolve(f"model-{index}")
    assert len(groups.deployments()) == 1 + MAX_WILDCARD_GROUPS
    assert groups.resolve(f"model-{MAX_WILDCARD_GROUPS + 10}")[1][0].upstream_model == (
        f"model-{MAX_WILDCARD_GROUPS + 10}")


async def test_router_calls_and_cools_down_wildcard_deployments() -> None:
    upstream = ScriptedUpstream()
    router = build_router(upstream, providers(), FakeClock(), allowed_fails=100)
    result = await router.complete(BODY, model="anth/claude-3-haiku")
    assert result.deployment.id == "anth/claude-3-haiku"
    assert upstream.calls == ["claude-3-haiku"]

    upstream.status["claude-3-opus"] = 429  # both deployments answer for this upstream name
    with pytest.raises(UpstreamRateLimited):
        await router.complete(BODY, model="claude-3-opus")
    states = {s.deployment.id: s.phase for s in router.health.states(router.deployments())}
    assert states["anth/claude-3-opus"] is BreakerPhase.OPEN, "429 in a group of two opens it"
    assert states["oa/claude-3-opus"] is BreakerPhase.OPEN
