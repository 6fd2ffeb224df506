"""The routing engine: deployments, model groups, retries and fallbacks, pricing, token counts,
the provider adapters and the HTTP transport to upstream providers.

``Router`` is the one object the ingress builds (once, from config) and calls:
``complete``/``open_stream`` for chat completions, ``resolve``/``model_names`` for model lookup,
``price`` for what a call cost, ``health`` (``DeploymentHealth``) for the live state of every
deployment. ``stats_store_from_config`` builds the live stats store the router is given (in
memory, or shared through Redis); its owner starts and closes it. Imports only ``schemas``; never
``ingress``, ``ledger`` or ``projections``. Other packages import the names below, never a
submodule.
"""

from router_engine.cooldown import BreakerPhase
from router_engine.deployment import Deployment, deployments_from_config
from router_engine.health import DeploymentHealth, DeploymentState
from router_engine.pricing import CONFIG_PRICE_VERSION, Cost, PriceBook, Rates
from router_engine.providers import (
    MockAdapter,
    MockUpstream,
    OpenAIAdapter,
    ParsedResponse,
    ProviderAdapter,
    StreamTranslator,
    build_adapter,
    build_transport,
)
from router_engine.router import CallResult, Router
from router_engine.stats import (
    MemoryStatsStore,
    RedisStatsStore,
    StatsStore,
    stats_store_from_config,
    uses_shared_stats,
)
from router_engine.strategies import STRATEGY_NAMES, Strategy, build_strategy
from router_engine.stream_call import StreamCall
from router_engine.tokens import (
    count_prompt_tokens,
    count_request_prompt_tokens,
    count_text_tokens,
    warm_tokenizers,
)
from router_engine.upstream import (
    AiohttpTransport,
    MockTransport,
    Transport,
    UpstreamRequest,
    UpstreamResponse,
)

__all__ = [
    "CONFIG_PRICE_VERSION",
    "STRATEGY_NAMES",
    "AiohttpTransport",
    "BreakerPhase",
    "CallResult",
    "Cost",
    "Deployment",
    "DeploymentHealth",
    "DeploymentState",
    "MemoryStatsStore",
    "MockAdapter",
    "MockTransport",
    "MockUpstream",
    "OpenAIAdapter",
    "ParsedResponse",
    "PriceBook",
    "ProviderAdapter",
    "Rates",
    "RedisStatsStore",
    "Router",
    "StatsStore",
    "Strategy",
    "StreamCall",
    "StreamTranslator",
    "Transport",
    "UpstreamRequest",
    "UpstreamResponse",
    "build_adapter",
    "build_strategy",
    "build_transport",
    "count_prompt_tokens",
    "count_request_prompt_tokens",
    "count_text_tokens",
    "deployments_from_config",
    "stats_store_from_config",
    "uses_shared_stats",
    "warm_tokenizers",
]
