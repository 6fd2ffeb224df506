"""The routing engine: deployments, model groups, retries and fallbacks, pricing, token counts,
the provider adapters and the HTTP transport to upstream providers.

``Router`` is the one object the ingress builds (once, from config) and calls:
``complete``/``open_stream`` for chat completions, ``resolve``/``model_names`` for model lookup,
``price`` for what a call cost. Imports only ``schemas``; never ``ingress``, ``ledger`` or
``projections``. Other packages import the names below, never a submodule.
"""

from router_engine.deployment import Deployment, deployments_from_config
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
from router_engine.router import CallResult, DeploymentChooser, Router, WeightedShuffle
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
    "AiohttpTransport",
    "CallResult",
    "Cost",
    "Deployment",
    "DeploymentChooser",
    "MockAdapter",
    "MockTransport",
    "MockUpstream",
    "OpenAIAdapter",
    "ParsedResponse",
    "PriceBook",
    "ProviderAdapter",
    "Rates",
    "Router",
    "StreamCall",
    "StreamTranslator",
    "Transport",
    "UpstreamRequest",
    "UpstreamResponse",
    "WeightedShuffle",
    "build_adapter",
    "build_transport",
    "count_prompt_tokens",
    "count_request_prompt_tokens",
    "count_text_tokens",
    "deployments_from_config",
    "warm_tokenizers",
]
