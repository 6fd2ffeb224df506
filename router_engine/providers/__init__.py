"""Provider adapters: pure translators between OpenAI's wire format and each provider's.

Owns one module per provider (``openai`` with its OpenAI-compatible presets, ``mock``, and the
native ones) and ``registry``, which picks the adapter and transport for a provider config.
Adapters do no I/O and never retry. Imports only ``schemas`` and ``router_engine.upstream``.
"""

from router_engine.providers.base import (
    Operation,
    ParsedResponse,
    ProviderAdapter,
    StreamTranslator,
)
from router_engine.providers.mock import MOCK_BASE_URL, MockAdapter, MockUpstream, mock_transport
from router_engine.providers.openai import OpenAIAdapter
from router_engine.providers.openai_stream import OpenAIStreamTranslator, usage_from_openai
from router_engine.providers.registry import build_adapter, build_transport

__all__ = [
    "MOCK_BASE_URL",
    "MockAdapter",
    "MockUpstream",
    "OpenAIAdapter",
    "OpenAIStreamTranslator",
    "Operation",
    "ParsedResponse",
    "ProviderAdapter",
    "StreamTranslator",
    "build_adapter",
    "build_transport",
    "mock_transport",
    "usage_from_openai",
]
