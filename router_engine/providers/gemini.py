"""The Google Gemini adapter: OpenAI Chat Completions in, Gemini ``generateContent`` upstream.

A non-streamed call goes to ``POST {base}/models/{model}:generateContent``, a stream to
``:streamGenerateContent?alt=sse`` (Server-Sent Events instead of Google's default JSON array).
The API key travels in the ``x-goog-api-key`` header, never in the URL, so no log of URLs can leak
it. The translation itself lives in ``router_engine.translation.gemini_*``; this module only
chooses the URL and headers and wires the pieces to the adapter interface.
"""

from __future__ import annotations

import hashlib
from typing import Any

import orjson

from router_engine.deployment import Deployment
from router_engine.providers.base import ParsedResponse, ProviderAdapter, StreamTranslator
from router_engine.providers.gemini_embeddings import (
    gemini_embeddings_body,
    gemini_embeddings_to_openai,
)
from router_engine.translation.gemini_errors import upstream_error
from router_engine.translation.gemini_request import openai_request_to_gemini
from router_engine.translation.gemini_response import (
    gemini_response_to_openai,
    usage_from_gemini,
)
from router_engine.translation.gemini_stream import GeminiStreamTranslator
from router_engine.upstream.base import UpstreamRequest
from schemas.config import ProviderConfig, duration_seconds
from schemas.errors import LLMuxError, UpstreamProtocolError

__all__ = ["DEFAULT_BASE_URL", "GeminiAdapter"]

DEFAULT_BASE_URL = "https://generativelanguage.googleapis.com/v1beta"
"""The Gemini Developer API; ``base_url`` replaces it (a proxy, or a fake server in tests)."""


class GeminiAdapter(ProviderAdapter):
    """Translates OpenAI chat requests to Gemini and Gemini replies back, for one provider."""

    def __init__(self, config: ProviderConfig) -> None:
        super().__init__(config)
        self._base_url = (config.base_url or DEFAULT_BASE_URL).rstrip("/")
        # PERF: headers and timeouts are fixed per provider, so they are built once here.
        headers = {"content-type": "application/json", **config.headers}
        if config.api_key:
            headers["x-goog-api-key"] = config.api_key
        self._headers = headers
        self._timeout_s = duration_seconds(config.timeout)
        self._stall_timeout_s = duration_seconds(config.stream_stall_timeout)
        self._connect_timeout_s = duration_seconds(config.connect_timeout)

    def build_request(
        self, body: dict[str, Any], deployment: Deployment, *, is_streaming: bool
    ) -> UpstreamRequest:
        """The Gemini call for ``body``; Gemini always reports usage, streamed or not.

        Raises:
            InvalidRequest: the request cannot be read (a malformed message or tool call).
            NotSupported: the request needs something Gemini cannot take.
        """
        action = "streamGenerateContent?alt=sse" if is_streaming else "generateContent"
        return self._post(deployment, action, openai_request_to_gemini(body),
                          is_streaming=is_streaming)

    def build_embeddings_request(
        self, body: dict[str, Any], deployment: Deployment
    ) -> UpstreamRequest:
        """One ``batchEmbedContents`` call for every input of ``body``."""
        payload = gemini_embeddings_body(body, _model_name(deployment))
        return self._post(deployment, "batchEmbedContents", payload, is_streaming=False)

    def parse_embeddings_response(
        self, body: bytes, request: dict[str, Any], deployment: Deployment
    ) -> ParsedResponse:
        doc, usage = gemini_embeddings_to_openai(body, request, model=deployment.upstream_model)
        return ParsedResponse(body=orjson.dumps(doc), usage=usage)

    def _post(self, deployment: Deployment, action: str, payload: dict[str, Any], *,
              is_streaming: bool) -> UpstreamRequest:
        return UpstreamRequest(
            method="POST",
            url=f"{self._base_url}/models/{_model_name(deployment)}:{action}",
            headers=self._headers,
            body=orjson.dumps(payload),
            is_streaming=is_streaming,
            timeout_s=self._timeout_s,
            stall_timeout_s=self._stall_timeout_s,
            connect_timeout_s=self._connect_timeout_s,
        )

    def parse_response(self, body: bytes, deployment: Deployment) -> ParsedResponse:
        data = _json_object(body)
        response_id = data.get("responseId")
        if not isinstance(response_id, str) or not response_id:
            response_id = hashlib.blake2b(body, digest_size=12).hexdigest()
        completion = gemini_response_to_openai(
            data,
            response_id=response_id,
            created=0,  # NOTE: adapters read no clock, and Gemini sends no timestamp
            model=str(data.get("modelVersion") or deployment.upstream_model),
        )
        return ParsedResponse(
            body=orjson.dumps(completion),
            usage=usage_from_gemini(data.get("usageMetadata")),
            text="".join(_generated_texts(completion)),
        )

    def stream_translator(
        self, deployment: Deployment, *, forward_usage_chunk: bool
    ) -> StreamTranslator:
        return GeminiStreamTranslator(
            model=deployment.upstream_model, forward_usage_chunk=forward_usage_chunk
        )

    def parse_error(self, status: int, body: bytes) -> LLMuxError:
        return upstream_error(status, body)


def _model_name(deployment: Deployment) -> str:
    # NOTE: Google's own docs and SDKs name models both ways ("models/gemini-2.5-flash").
    return deployment.upstream_model.removeprefix("models/")


def _generated_texts(completion: dict[str, Any]) -> list[str]:
    texts = []
    for choice in completion["choices"]:
        message = choice["message"]
        texts.append(message.get("reasoning_content") or "")
        texts.append(message["content"] or "")
        texts.extend(call["function"]["arguments"] for call in message.get("tool_calls") or [])
    return texts


def _json_object(body: bytes) -> dict[str, Any]:
    try:
        data = orjson.loads(body)
    except orjson.JSONDecodeError:
        raise UpstreamProtocolError("Gemini sent a response that is not JSON.") from None
    if not isinstance(data, dict):
        raise UpstreamProtocolError("Gemini sent a response that is not a JSON object.")
    return data
