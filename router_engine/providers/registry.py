"""Which adapter translates for a provider, and which transport carries its calls.

Both are decided once, when the router is built from config, never per request.
"""

from __future__ import annotations

from collections.abc import Callable

from router_engine.providers.anthropic import AnthropicAdapter
from router_engine.providers.azure import AzureOpenAIAdapter
from router_engine.providers.base import ProviderAdapter
from router_engine.providers.gemini import GeminiAdapter
from router_engine.providers.mock import MockAdapter, mock_transport
from router_engine.providers.openai import OpenAIAdapter
from router_engine.upstream.base import Transport
from schemas.config import ProviderConfig
from schemas.errors import NotSupported
from schemas.presets import OPENAI_COMPATIBLE_PRESETS

__all__ = ["build_adapter", "build_transport"]

_NATIVE_ADAPTERS: dict[str, Callable[[ProviderConfig], ProviderAdapter]] = {
    "openai": OpenAIAdapter,
    "mock": MockAdapter,
    "anthropic": AnthropicAdapter,
    "gemini": GeminiAdapter,
    "azure": AzureOpenAIAdapter,
}


def build_adapter(config: ProviderConfig) -> ProviderAdapter:
    """The adapter for ``config``'s provider type (an OpenAI-compatible preset uses OpenAI's).

    Raises:
        NotSupported: no adapter serves this provider type.
    """
    factory = _NATIVE_ADAPTERS.get(config.type)
    if factory is None and config.type in OPENAI_COMPATIBLE_PRESETS:
        factory = OpenAIAdapter
    if factory is None:
        raise NotSupported(f"Provider '{config.name}': type {config.type!r} has no adapter yet.")
    return factory(config)


def build_transport(config: ProviderConfig, shared: Transport) -> Transport:
    """The transport for ``config``'s calls: in process for ``mock``, else the ``shared`` one."""
    if config.type == "mock":
        return mock_transport(config)
    return shared
