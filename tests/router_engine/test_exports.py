"""``router_engine``'s public surface is pinned: other packages import only these names."""

from __future__ import annotations

import router_engine
import router_engine.providers
import router_engine.upstream


def test_router_engine_all() -> None:
    assert sorted(router_engine.__all__) == sorted([
        "CONFIG_PRICE_VERSION", "STRATEGY_NAMES", "AiohttpTransport", "BreakerPhase",
        "CallResult", "Cost", "Deployment", "DeploymentHealth", "DeploymentState",
        "MemoryStatsStore", "MockAdapter", "MockTransport", "MockUpstream", "OpenAIAdapter",
        "ParsedResponse", "PriceBook", "ProviderAdapter", "Rates", "RedisStatsStore", "Router",
        "StatsStore", "Strategy", "StreamCall", "StreamTranslator", "Transport",
        "UpstreamRequest", "UpstreamResponse", "build_adapter", "build_strategy",
        "build_transport", "count_prompt_tokens", "count_request_prompt_tokens",
        "count_text_tokens", "deployments_from_config", "stats_store_from_config",
        "uses_shared_stats", "warm_tokenizers",
    ])
    for name in router_engine.__all__:
        assert getattr(router_engine, name) is not None


def test_subpackage_surfaces() -> None:
    assert set(router_engine.upstream.__all__) == {
        "AiohttpTransport", "Http1Transport", "MockHandler", "MockTransport", "Transport",
        "UpstreamRequest", "UpstreamResponse", "static_response",
    }
    assert {"build_adapter", "build_transport", "OpenAIAdapter", "MockAdapter",
            "ProviderAdapter"} <= set(router_engine.providers.__all__)
