"""One upstream call per operation: which adapter method builds, parses and streams it.

The router speaks in operations (``chat``, ``completions``, ``embeddings``); adapters implement
chat always and the others where their provider has them. Legacy completions on a provider
without a native completions API go through its chat API (``legacy_completions``).
"""

from __future__ import annotations

from typing import Any

from router_engine.deployment import Deployment
from router_engine.providers.base import (
    Operation,
    ParsedResponse,
    ProviderAdapter,
    StreamTranslator,
)
from router_engine.providers.legacy_completions import (
    ChatToCompletionsStream,
    completions_to_chat,
    parse_via_chat,
)
from router_engine.upstream.base import UpstreamRequest
from schemas.errors import InvalidRequest

__all__ = ["build_request", "parse_response", "stream_translator"]


def build_request(adapter: ProviderAdapter, operation: Operation, body: dict[str, Any],
                  deployment: Deployment, *, is_streaming: bool) -> UpstreamRequest:
    """The upstream call for ``operation`` with client request ``body``.

    Raises:
        NotSupported: the provider cannot serve ``operation`` (or this request of it).
        InvalidRequest: the request cannot be translated (names the field).
    """
    if operation == "chat":
        return adapter.build_request(body, deployment, is_streaming=is_streaming)
    if operation == "embeddings":
        if is_streaming:
            raise InvalidRequest("Embeddings cannot be streamed.", param="stream")
        return adapter.build_embeddings_request(body, deployment)
    if adapter.has_native_completions:
        return adapter.build_completions_request(body, deployment, is_streaming=is_streaming)
    return adapter.build_request(completions_to_chat(body), deployment,
                                 is_streaming=is_streaming)


def parse_response(adapter: ProviderAdapter, operation: Operation, data: bytes,
                   deployment: Deployment, body: dict[str, Any]) -> ParsedResponse:
    """The client's response for a 2xx upstream body; for non-chat operations usage is set."""
    if operation == "chat":
        return adapter.parse_response(data, deployment)
    if operation == "embeddings":
        return adapter.parse_embeddings_response(data, body, deployment)
    if adapter.has_native_completions:
        return adapter.parse_completions_response(data, body, deployment)
    return parse_via_chat(adapter.parse_response(data, deployment), completions_to_chat(body),
                          deployment.upstream_model)


def stream_translator(adapter: ProviderAdapter, operation: Operation, deployment: Deployment,
                      body: dict[str, Any], *, forward_usage_chunk: bool) -> StreamTranslator:
    """A fresh translator for one stream of ``operation`` (chat or completions)."""
    if operation == "chat":
        return adapter.stream_translator(deployment, forward_usage_chunk=forward_usage_chunk)
    if operation == "completions" and adapter.has_native_completions:
        return adapter.completions_stream_translator(
            deployment, body, forward_usage_chunk=forward_usage_chunk)
    if operation == "completions":
        inner = adapter.stream_translator(deployment, forward_usage_chunk=forward_usage_chunk)
        return ChatToCompletionsStream(inner, completions_to_chat(body),
                                       deployment.upstream_model)
    raise InvalidRequest("Embeddings cannot be streamed.", param="stream")
