"""OpenAI Chat Completions, and every OpenAI-compatible server (``schemas.presets``).

The canonical format is OpenAI's, so this adapter translates almost nothing: it swaps in the
deployment's upstream model name, asks streams for usage (``stream_options.include_usage``), and
passes response bytes and SSE frames through unchanged. It reads usage from the body or from the
stream's usage chunk, and hides that usage-only chunk from clients that did not ask for it.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from types import MappingProxyType
from typing import Any, ClassVar

import orjson

from router_engine.deployment import Deployment
from router_engine.providers.base import ParsedResponse, ProviderAdapter, StreamTranslator
from router_engine.upstream.base import UpstreamRequest
from schemas import errors
from schemas.config import ProviderConfig, duration_seconds
from schemas.errors import LLMuxError, UpstreamProtocolError
from schemas.presets import OPENAI_COMPATIBLE_PRESETS
from schemas.token_usage import TokenUsage

__all__ = ["OpenAIAdapter", "OpenAIStreamTranslator", "usage_from_openai"]

_MAX_MESSAGE_CHARS = 1000
_CONTENT_POLICY_CODES = frozenset({"content_policy_violation", "content_filter"})
_TEXT_KEYS = ("content", "reasoning_content", "refusal")


def usage_from_openai(usage: Any) -> TokenUsage | None:
    """A ``TokenUsage`` from an OpenAI ``usage`` object; None when absent or malformed."""
    if not isinstance(usage, dict):
        return None
    prompt_details = usage.get("prompt_tokens_details") or {}
    completion_details = usage.get("completion_tokens_details") or {}
    try:
        return TokenUsage(
            prompt_tokens=int(usage.get("prompt_tokens") or 0),
            completion_tokens=int(usage.get("completion_tokens") or 0),
            cached_tokens=int(prompt_details.get("cached_tokens") or 0),
            reasoning_tokens=int(completion_details.get("reasoning_tokens") or 0),
        )
    except (TypeError, ValueError, AttributeError):
        return None


def _delta_texts(doc: Any) -> list[str]:
    """Generated text of a chunk's ``delta`` or a response's ``message`` (tool calls included)."""
    texts: list[str] = []
    choices = doc.get("choices") if isinstance(doc, dict) else None
    for choice in choices if isinstance(choices, list) else []:
        part = (choice.get("delta") or choice.get("message")) if isinstance(choice, dict) else None
        if not isinstance(part, dict):
            continue
        texts.extend(part[k] for k in _TEXT_KEYS if isinstance(part.get(k), str))
        for call in part.get("tool_calls") or []:
            function = call.get("function") if isinstance(call, dict) else None
            if isinstance(function, dict):
                texts.extend(str(function[k]) for k in ("name", "arguments") if function.get(k))
    return texts


def _json(payload: bytes) -> Any:
    try:
        return orjson.loads(payload)
    except orjson.JSONDecodeError as exc:
        raise UpstreamProtocolError("The upstream sent a stream event that is not JSON.") from exc


def _event_end(buffer: bytes, start: int) -> int:
    """Index just past the blank line ending the SSE event at ``start``; -1 if incomplete."""
    lf = buffer.find(b"\n\n", start)
    crlf = buffer.find(b"\r\n\r\n", start)
    if crlf >= 0 and (lf < 0 or crlf < lf):
        return crlf + 4
    return lf + 2 if lf >= 0 else -1


def _data_of(frame: bytes) -> bytes | None:
    """The ``data`` field of an SSE event; None for comments and events without data."""
    if frame.startswith(b"data:") and frame.count(b"\n") <= 2:
        return frame[5:].strip()
    lines = [line[5:].strip() for line in frame.splitlines() if line.startswith(b"data:")]
    return b"\n".join(lines) if lines else None


def _has_usage_object(payload: bytes) -> bool:
    """Whether a chunk carries ``"usage": {...}`` (OpenAI sends ``"usage": null`` on the rest).

    # PERF: a byte search instead of parsing every chunk's JSON; a quote inside a JSON string is
    # escaped, so ``"usage"`` can only be a key.
    """
    index = payload.rfind(b'"usage"')
    return index >= 0 and payload[index + 7 : index + 24].lstrip(b" \t\r\n:").startswith(b"{")


class OpenAIStreamTranslator(StreamTranslator):
    """Splits upstream bytes into SSE events and forwards each one unchanged.

    Content is not decoded while streaming: the data payloads are kept and decoded only if
    ``text()`` is called (when the provider reported no usage).
    """

    __slots__ = ("_forward_usage", "_on_error", "_payloads", "_pending", "saw_done", "usage")

    def __init__(self, *, forward_usage_chunk: bool, on_error: Callable[[Any], LLMuxError]) -> None:
        self._forward_usage = forward_usage_chunk
        self._on_error = on_error
        self._payloads: list[bytes] = []
        self._pending = b""
        self.usage: TokenUsage | None = None
        self.saw_done = False

    def feed(self, data: bytes) -> list[bytes]:
        buffer = self._pending + data if self._pending else data
        frames: list[bytes] = []
        start = 0
        while (end := _event_end(buffer, start)) >= 0:
            frame = buffer if start == 0 and end == len(buffer) else buffer[start:end]
            start = end
            if self._accept(frame):
                frames.append(frame)
        self._pending = buffer[start:]
        return frames

    def _accept(self, frame: bytes) -> bool:
        """Record what the frame says; False for a frame the client must not see."""
        payload = _data_of(frame)
        if payload is None:
            return True
        if payload == b"[DONE]":
            self.saw_done = True
            return True
        if payload.startswith(b'{"error"'):
            raise self._on_error(_json(payload))
        if not _has_usage_object(payload):
            self._payloads.append(payload)
            return True
        doc = _json(payload)
        self.usage = usage_from_openai(doc.get("usage")) or self.usage
        if doc.get("choices"):
            self._payloads.append(payload)
            return True
        return self._forward_usage

    def text(self) -> str:
        texts: list[str] = []
        for payload in self._payloads:
            try:
                texts.extend(_delta_texts(orjson.loads(payload)))
            except orjson.JSONDecodeError:
                continue
        return "".join(texts)


class OpenAIAdapter(ProviderAdapter):
    """``openai`` and the OpenAI-compatible presets; headers and URL are built once, at load."""

    default_base_url: ClassVar[str] = "https://api.openai.com/v1"

    def __init__(self, config: ProviderConfig) -> None:
        super().__init__(config)
        preset = OPENAI_COMPATIBLE_PRESETS.get(config.type)
        base_url = config.base_url or (preset.base_url if preset else self.default_base_url)
        self._url = base_url.rstrip("/") + "/chat/completions"
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
        return UpstreamRequest(
            "POST", self._url, self._headers, orjson.dumps(payload),
            is_streaming=is_streaming, timeout_s=self._timeout_s,
            stall_timeout_s=self._stall_s, connect_timeout_s=self._connect_s,
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
        return ParsedResponse(body, usage, "" if usage else "".join(_delta_texts(doc)))

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
