"""Azure OpenAI: the OpenAI adapter with Azure's URL and key header.

Azure serves the same Chat Completions bodies and streams as OpenAI (its content-filter fields
ride along unchanged), so only the address differs: each deployment has its own path,
``{endpoint}/openai/deployments/{deployment}/chat/completions?api-version=...``, and the key goes
in an ``api-key`` header instead of ``Authorization: Bearer``. One stream quirk is smoothed over:
Azure opens a stream with a choice-less chunk that only carries the prompt's content-filter
verdict, which OpenAI clients reading ``chunk.choices[0]`` trip over, so it is not forwarded.
"""

from __future__ import annotations

from types import MappingProxyType
from typing import ClassVar
from urllib.parse import quote

import orjson

from router_engine.deployment import Deployment
from router_engine.providers.base import StreamTranslator
from router_engine.providers.openai import OpenAIAdapter
from router_engine.providers.openai_stream import OpenAIStreamTranslator
from schemas.config import ProviderConfig
from schemas.config_loader import ConfigError

__all__ = ["DEFAULT_API_VERSION", "AzureOpenAIAdapter", "AzureStreamTranslator"]

DEFAULT_API_VERSION = "2024-10-21"
"""The ``api-version`` sent when the provider config names none: Azure's latest GA data-plane
version that supports ``stream_options.include_usage``, tools and ``json_schema``."""


class AzureOpenAIAdapter(OpenAIAdapter):
    """``type: azure``. ``base_url`` is the resource endpoint (``https://NAME.openai.azure.com``);
    a model's ``upstream_model`` is the Azure deployment name."""

    def __init__(self, config: ProviderConfig) -> None:
        if not config.base_url:
            raise ConfigError(f"provider {config.name!r}: type azure needs base_url (the endpoint)")
        super().__init__(config)
        # NOTE: a resource endpoint copied with its "/openai" suffix must not become /openai/openai.
        self._endpoint = config.base_url.rstrip("/").removesuffix("/openai")
        self._api_version = quote(config.api_version or DEFAULT_API_VERSION, safe="")
        headers = {"Content-Type": "application/json"}
        if config.api_key:
            headers["api-key"] = config.api_key
        headers.update(config.headers)
        self._headers = MappingProxyType(headers)

    has_native_completions: ClassVar[bool] = False
    """Azure serves legacy completions only from instruct deployments; chat deployments take
    them through the gateway's chat translation."""

    def url_for(self, deployment: Deployment, operation_path: str = "chat/completions") -> str:
        """The URL of ``operation_path`` on ``deployment`` (its ``upstream_model`` names it)."""
        name = quote(deployment.upstream_model, safe="")
        return (
            f"{self._endpoint}/openai/deployments/{name}/{operation_path}"
            f"?api-version={self._api_version}"
        )

    def stream_translator(
        self, deployment: Deployment, *, forward_usage_chunk: bool
    ) -> StreamTranslator:
        return AzureStreamTranslator(
            forward_usage_chunk=forward_usage_chunk, on_error=self._stream_error
        )


class AzureStreamTranslator(OpenAIStreamTranslator):
    """OpenAI's pass-through translator, minus Azure's prompt-filter annotation chunk."""

    __slots__ = ()

    def feed(self, data: bytes) -> list[bytes]:
        return [frame for frame in super().feed(data) if not _is_filter_annotation(frame)]


def _is_filter_annotation(frame: bytes) -> bool:
    """Whether ``frame`` is Azure's choice-less ``prompt_filter_results`` chunk."""
    # PERF: a byte search on every frame; only the one annotation chunk per stream is parsed.
    if b'"prompt_filter_results"' not in frame:
        return False
    try:
        doc = orjson.loads(frame.partition(b"data:")[2])
    except orjson.JSONDecodeError:
        return False
    return isinstance(doc, dict) and not doc.get("choices") and doc.get("usage") is None
