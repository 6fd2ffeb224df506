"""Adapter and transport choice per provider config."""

from __future__ import annotations

import pytest

from router_engine.providers import MockAdapter, OpenAIAdapter, build_adapter, build_transport
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
