"""OpenAI Chat Completions, and every OpenAI-compatible server (``schemas.presets``).

The canonical format is OpenAI's, so this adapter translates almost nothing: it swaps in the
deployment's upstream model name, asks streams for usage (``stream_options.include_usage``), and
passes response bytes and SSE frames through unchanged (the stream side is
``openai_stream.OpenAIStreamTranslator``). Errors map to the gateway's error tree with the
upstream message kept and our provider key scrubbed out of it.
"""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType
from typing import Any, ClassVar

import orjson

from router_engine.deployment import Deployment
from router_engine.providers.base import ParsedResponse, ProviderAdapter, StreamTranslator
from router_engine.providers.openai_operations import (
    CompletionsStreamTranslator,
    parse_completions,
    parse_embeddings,
)
from router_engine.providers.openai_stream import (
    OpenAIStreamTranslator,
    generated_texts,
    usage_from_openai,
)
from router_engine.upstream.base import UpstreamRequest
from schemas import errors
from schemas.config import ProviderConfig, duration_seconds
from schemas.errors import LLMuxError, UpstreamProtocolError
from schemas.presets import OPENAI_COMPATIBLE_PRESETS

__all__ = ["OpenAIAdapter"]

_MAX_MESSAGE_CHARS = 1000
_CONTENT_POLICY_CODES = frozenset({"content_policy_violation", "content_filter"})


class OpenAIAdapter(ProviderAdapter):
    """``openai`` and the OpenAI-compatible presets; headers and URL are built once, at load."""

    default_base_url: ClassVar[str] = "https://api.openai.com/v1"
    has_native_completions: ClassVar[bool] = True

    def __init__(self, config: ProviderConfig) -> None:
        super().__init__(config)
        preset = OPENAI_COMPATIBLE_PRESETS.get(config.type)
        base_url = config.base_url or (preset.base_url if preset else self.default_base_url)
        self._base_url = base_url.rstrip("/")
        self._url = self._base_url + "/chat/completions"
        headers = {"Content-Type": "application/json"}
        if config.api_key:
            header, scheme = (preset.auth_header, preset.auth_scheme) if preset else (
                "Authorization", "Bearer ")
            headers[header] = scheme + config.api_key
        headers.update(config.headers)
        self._headers: Mapping[str, str] = MappingProxyType(headers)
        self._timeout_s = duration_seconds(config.timeout)
        self._stall_s = duration_seconds(config.stream_stall_timeout)
        self._connect_s = duration_seconds(config.connect_timeout)

    def build_request(
        self, body: dict[str, Any], deployment: Deployment, *, is_streaming: bool
    ) -> UpstreamRequest:
        return self._post(self.url_for(deployment, "chat/completions"), body, deployment,
                          is_streaming=is_streaming)

    def url_for(self, deployment: Deployment, operation_path: str) -> str:
        """The URL of ``operation_path`` (``chat/completions``, ``embeddings``...)."""
        return self._url if operation_path == "chat/completions" else \
            f"{self._base_url}/{operation_path}"

    def _post(self, url: str, body: dict[str, Any], deployment: Deployment, *,
              is_streaming: bool) -> UpstreamRequest:
        payload = dict(body)
        payload["model"] = deployment.upstream_model
        if is_streaming:
            options = body.get("stream_options")
            payload["stream"] = True
            payload["stream_options"] = {**(options if isinstance(options, dict) else {}),
                                         "include_usage": True}
        else:
            payload.pop("stream", None)
            payload.pop("stream_options", None)
        # PERF: positional, in field order (is_streaming, timeout_s, stall_timeout_s,
        # connect_timeout_s after the body): a frozen dataclass takes keywords ~0.3 µs slower.
        return UpstreamRequest("POST", url, self._headers, orjson.dumps(payload), is_streaming,
                               self._timeout_s, self._stall_s, self._connect_s)

    def build_embeddings_request(
        self, body: dict[str, Any], deployment: Deployment
    ) -> UpstreamRequest:
        return self._post(self.url_for(deployment, "embeddings"), body, deployment,
                          is_streaming=False)

    def parse_embeddings_response(
        self, body: bytes, request: dict[str, Any], deployment: Deployment
    ) -> ParsedResponse:
        return parse_embeddings(body, request, deployment.upstream_model, self.config.name)

    def build_completions_request(
        self, body: dict[str, Any], deployment: Deployment, *, is_streaming: bool
    ) -> UpstreamRequest:
        return self._post(self.url_for(deployment, "completions"), body, deployment,
                          is_streaming=is_streaming)

    def parse_completions_response(
        self, body: bytes, request: dict[str, Any], deployment: Deployment
    ) -> ParsedResponse:
        return parse_completions(body, request, deployment.upstream_model, self.config.name)

    def completions_stream_translator(
        self, deployment: Deployment, request: dict[str, Any], *, forward_usage_chunk: bool
    ) -> StreamTranslator:
        return CompletionsStreamTranslator(
            forward_usage_chunk=forward_usage_chunk, on_error=self._stream_error,
            request=request, model=deployment.upstream_model,
        )

    def parse_response(self, body: bytes, deployment: Deployment) -> ParsedResponse:
        try:
            doc = orjson.loads(body)
        except orjson.JSONDecodeError as exc:
            raise UpstreamProtocolError(
                f"Upstream '{self.config.name}' sent a response that is not JSON."
            ) from exc
        if not isinstance(doc, dict):
            raise UpstreamProtocolError(f"Upstream '{self.config.name}' sent an unexpected body.")
        usage = usage_from_openai(doc.get("usage"))
        return ParsedResponse(body, usage, "" if usage else "".join(generated_texts(doc)))

    def stream_translator(
        self, deployment: Deployment, *, forward_usage_chunk: bool
    ) -> StreamTranslator:
        return OpenAIStreamTranslator(
            forward_usage_chunk=forward_usage_chunk, on_error=self._stream_error
        )

    def parse_error(self, status: int, body: bytes) -> LLMuxError:
        message, code, param = self._error_body(body)
        name = self.config.name
        if status == 429:
            return errors.UpstreamRateLimited(f"Upstream '{name}' rate limited the call: {message}")
        if status in (401, 403):
            return errors.UpstreamAuthError(
                f"Upstream '{name}' refused the gateway's credentials (HTTP {status})."
            )
        if status in (408, 504):
            return errors.UpstreamTimeout(f"Upstream '{name}' timed out (HTTP {status}).")
        if status == 404:
            return errors.UpstreamError(f"Upstream '{name}' answered 404: {message}",
                                        code="upstream_not_found")
        if code == "context_length_exceeded" or "maximum context length" in message:
            return errors.ContextLengthExceeded(message, param=param)
        if code in _CONTENT_POLICY_CODES:
            return errors.ContentPolicyViolation(message, param=param)
        if 400 <= status < 500:
            return errors.InvalidRequest(message, param=param, code=code)
        if status == 503:
            return errors.UpstreamUnavailable(f"Upstream '{name}' is unavailable: {message}")
        return errors.UpstreamError(f"Upstream '{name}' failed with HTTP {status}: {message}")

    def _stream_error(self, doc: Any) -> LLMuxError:
        message, _, _ = self._error_fields(doc, b"")
        return errors.UpstreamError(f"Upstream '{self.config.name}' failed mid-stream: {message}")

    def _error_body(self, body: bytes) -> tuple[str, str | None, str | None]:
        try:
            doc = orjson.loads(body)
        except orjson.JSONDecodeError:
            doc = None
        return self._error_fields(doc, body)

    def _error_fields(self, doc: Any, body: bytes) -> tuple[str, str | None, str | None]:
        """(message, code, param) of an OpenAI error, the message scrubbed of our key."""
        error = doc.get("error") if isinstance(doc, dict) else None
        if not isinstance(error, dict):  # not OpenAI's error shape: show the start of the body
            text = body[:200].decode("utf-8", "replace").strip()
            return self._scrub(text or "no details"), None, None
        code, param = error.get("code"), error.get("param")
        message = self._scrub(str(error.get("message") or "no error message"))
        return message, None if code is None else str(code), None if param is None else str(param)

    def _scrub(self, message: str) -> str:
        key = self.config.api_key
        return (message.replace(key, "***") if key else message)[:_MAX_MESSAGE_CHARS]
