"""Adapter and transport choice per provider config."""

from __future__ import annotations

import pytest

from router_engine.providers import MockAdapter, OpenAIAdapter, build_adapter, build_transport
from router_engine.providers.anthropic import AnthropicAdapter
from router_engine.providers.azure import AzureOpenAIAdapter
from router_engine.providers.gemini import GeminiAdapter
from router_engine.upstream import AiohttpTransport, MockTransport
from schemas.config import ProviderConfig
from schemas.presets import OPENAI_COMPATIBLE_PRESETS


@pytest.mark.parametrize("type_", ["openai", *OPENAI_COMPATIBLE_PRESETS])
def test_openai_and_every_preset_use_the_openai_adapter(type_: str) -> None:
    adapter = build_adapter(ProviderConfig(name="p", type=type_))
    assert type(adapter) is OpenAIAdapter


def test_mock_gets_the_mock_adapter_and_an_in_process_transport() -> None:
    config = ProviderConfig(name="m", type="mock")
    shared = AiohttpTransport()
    assert isinstance(build_adapter(config), MockAdapter)
    assert isinstance(build_transport(config, shared), MockTransport)
    assert build_transport(ProviderConfig(name="o", type="openai"), shared) is shared


@pytest.mark.parametrize(("type_", "kind"), [("anthropic", AnthropicAdapter),
                                             ("gemini", GeminiAdapter),
                                             ("azure", AzureOpenAIAdapter)])
def test_native_providers(type_: str, kind: type) -> None:
    config = ProviderConfig(name="n", type=type_, api_key="k",
                            base_url="https://llmux-test.openai.azure.com")
    assert type(build_adapter(config)) is kind
    shared = AiohttpTransport()
    assert build_transport(config, shared) is shared
