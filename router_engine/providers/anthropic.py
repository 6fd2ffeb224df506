"""The Anthropic Messages API behind the gateway's OpenAI-format adapter interface.

Requests go to ``POST {base_url}/v1/messages`` with ``x-api-key`` and ``anthropic-version``.
The translation itself lives in ``router_engine.translation`` (request, response, stream and
error modules), because the inbound ``/v1/messages`` endpoint needs the same vocabulary in the
other direction; this module only wires it to the ``ProviderAdapter`` interface.
"""

from __future__ import annotations

from typing import Any

import orjson

from router_engine.deployment import Deployment
from router_engine.providers.base import ParsedResponse, ProviderAdapter, StreamTranslator
from router_engine.translation.anthropic_errors import upstream_error
from router_engine.translation.anthropic_request import openai_request_to_anthropic
from router_engine.translation.anthropic_response import anthropic_response_to_openai
from router_engine.translation.anthropic_stream import AnthropicStreamTranslator
from router_engine.upstream.base import UpstreamRequest
from schemas.config import ProviderConfig, duration_seconds
from schemas.errors import LLMuxError, UpstreamProtocolError

__all__ = ["ANTHROPIC_VERSION", "DEFAULT_BASE_URL", "AnthropicAdapter"]

DEFAULT_BASE_URL = "https://api.anthropic.com"
ANTHROPIC_VERSION = "2023-06-01"
"""The Messages API version header every current Anthropic model accepts."""


class AnthropicAdapter(ProviderAdapter):
    """Translates OpenAI chat requests to Anthropic Messages calls and the replies back."""

    def __init__(self, config: ProviderConfig) -> None:
        super().__init__(config)
        # PERF: URL, headers and timeouts are fixed per provider: built once at config load.
        self._url = _messages_url(config.base_url or DEFAULT_BASE_URL)
        headers = {"content-type": "application/json", "anthropic-version": ANTHROPIC_VERSION}
        if config.api_key:
            headers["x-api-key"] = config.api_key
        headers.update(config.headers)
        self._headers = headers
        self._stream_headers = {**headers, "accept": "text/event-stream"}
        self._timeout_s = duration_seconds(config.timeout)
        self._stall_timeout_s = duration_seconds(config.stream_stall_timeout)
        self._connect_timeout_s = duration_seconds(config.connect_timeout)

    def build_request(
        self, body: dict[str, Any], deployment: Deployment, *, is_streaming: bool
    ) -> UpstreamRequest:
        """The Messages call for ``body``; raises ``InvalidRequest``/``NotSupported`` early."""
        payload = openai_request_to_anthropic(
            body, model=deployment.upstream_model, is_streaming=is_streaming
        )
        return UpstreamRequest(
            method="POST",
            url=self._url,
            headers=self._stream_headers if is_streaming else self._headers,
            body=orjson.dumps(payload),
            is_streaming=is_streaming,
            timeout_s=self._timeout_s,
            stall_timeout_s=self._stall_timeout_s,
            connect_timeout_s=self._connect_timeout_s,
        )

    def parse_response(self, body: bytes, deployment: Deployment) -> ParsedResponse:
        try:
            message = orjson.loads(body)
        except orjson.JSONDecodeError:
            raise UpstreamProtocolError("Anthropic returned a body that is not JSON.") from None
        if not isinstance(message, dict):
            raise UpstreamProtocolError("Anthropic returned a body that is not a JSON object.")
        response, usage, text = anthropic_response_to_openai(message)
        return ParsedResponse(body=orjson.dumps(response), usage=usage, text=text)

    def stream_translator(
        self, deployment: Deployment, *, forward_usage_chunk: bool
    ) -> StreamTranslator:
        """A translator that raises the mapped error when Anthropic sends an ``error`` event."""
        return AnthropicStreamTranslator(forward_usage_chunk=forward_usage_chunk)

    def parse_error(self, status: int, body: bytes) -> LLMuxError:
        return upstream_error(status, body)


def _messages_url(base_url: str) -> str:
    base = base_url.rstrip("/")
    # NOTE: operators often paste Anthropic's base URL with the version path already on it.
    if base.endswith("/v1"):
        base = base[: -len("/v1")]
    return f"{base}/v1/messages"
