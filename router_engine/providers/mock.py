"""The ``mock`` provider: an in-process OpenAI upstream, so the gateway runs with no network.

``MockAdapter`` is the OpenAI adapter pointed at ``http://mock.invalid/v1``; ``MockUpstream`` is
the handler behind a ``MockTransport`` that answers those requests the way OpenAI would: a
deterministic reply derived from the last user message, real token counts (``router_engine.tokens``)
in ``usage``, ``MockOptions.latency`` before the reply, and streams of ``stream_chunks`` content
chunks ``chunk_interval`` apart, a usage chunk when asked, then ``data: [DONE]``.
"""

from __future__ import annotations

import asyncio
import hashlib
import time
from collections.abc import AsyncGenerator
from typing import Any, ClassVar

import orjson

from router_engine.providers.openai import OpenAIAdapter
from router_engine.tokens import count_request_prompt_tokens, count_text_tokens
from router_engine.upstream.base import UpstreamRequest, UpstreamResponse
from router_engine.upstream.mock import MockTransport, static_response
from schemas.config import MockOptions, ProviderConfig, duration_seconds

__all__ = ["MOCK_BASE_URL", "MockAdapter", "MockUpstream", "mock_transport"]

MOCK_BASE_URL = "http://mock.invalid/v1"
_REPLY_PREFIX = "This is a mock response to: "
_MAX_ECHO_CHARS = 500
_JSON = {"content-type": "application/json"}
_SSE = {"content-type": "text/event-stream"}


class MockAdapter(OpenAIAdapter):
    """The OpenAI adapter, aimed at the in-process mock upstream."""

    default_base_url: ClassVar[str] = MOCK_BASE_URL


def mock_transport(config: ProviderConfig) -> MockTransport:
    """The transport that serves a ``mock`` provider's calls in process."""
    return MockTransport(MockUpstream(config.mock))


def _last_user_text(body: dict[str, Any]) -> str:
    messages = body.get("messages")
    for message in reversed(messages if isinstance(messages, list) else []):
        if not isinstance(message, dict) or message.get("role") != "user":
            continue
        content = message.get("content")
        if isinstance(content, list):
            parts = [p.get("text") for p in content if isinstance(p, dict)]
            content = " ".join(p for p in parts if isinstance(p, str))
        return content if isinstance(content, str) else ""
    return ""


def _reply(body: dict[str, Any], model: str) -> tuple[str, str]:
    """The reply text and finish reason; cut to ``max_tokens`` like a real model would be."""
    text = _REPLY_PREFIX + _last_user_text(body)[:_MAX_ECHO_CHARS]
    limit = body.get("max_completion_tokens", body.get("max_tokens"))
    if not isinstance(limit, int) or count_text_tokens(text, model) <= limit:
        return text, "stop"
    words = text.split(" ")
    while words and count_text_tokens(" ".join(words), model) > limit:
        words.pop()
    return " ".join(words), "length"


def _usage(prompt_tokens: int, completion_tokens: int) -> dict[str, Any]:
    return {
        "prompt_tokens": prompt_tokens,
        "completion_tokens": completion_tokens,
        "total_tokens": prompt_tokens + completion_tokens,
        "prompt_tokens_details": {"cached_tokens": 0, "audio_tokens": 0},
        "completion_tokens_details": {"reasoning_tokens": 0, "audio_tokens": 0},
    }


def _pieces(text: str, count: int) -> list[str]:
    """``text`` cut into ``count`` consecutive pieces of near-equal length."""
    size = len(text)
    return [text[i * size // count : (i + 1) * size // count] for i in range(count)]


class MockUpstream:
    """A ``MockTransport`` handler speaking OpenAI's chat completions wire format."""

    def __init__(self, options: MockOptions) -> None:
        self._latency_s = duration_seconds(options.latency)
        self._interval_s = duration_seconds(options.chunk_interval)
        self._chunks = options.stream_chunks

    async def __call__(self, request: UpstreamRequest) -> UpstreamResponse:
        if request.method != "POST" or not request.url.endswith("/chat/completions"):
            error = {"error": {"message": "Unknown mock endpoint.", "type": "invalid_request_error",
                               "param": None, "code": "unknown_url"}}
            return static_response(404, orjson.dumps(error), _JSON)
        body = orjson.loads(request.body or b"{}")
        model = str(body.get("model") or "mock")
        reply, finish = _reply(body, model)
        usage = _usage(count_request_prompt_tokens(body, model), count_text_tokens(reply, model))
        head = {"id": "chatcmpl-mock" + hashlib.sha256(request.body or b"").hexdigest()[:20],
                "created": int(time.time()), "model": model, "system_fingerprint": "fp_llmux_mock"}
        if body.get("stream"):
            wants_usage = (body.get("stream_options") or {}).get("include_usage")
            frames = self._frames(head, reply, finish, usage if wants_usage else None)
            return UpstreamResponse(200, _SSE, frames, frames.aclose)
        await asyncio.sleep(self._latency_s)
        message = {"role": "assistant", "content": reply, "refusal": None}
        choice = {"index": 0, "message": message, "logprobs": None, "finish_reason": finish}
        doc = {**head, "object": "chat.completion", "choices": [choice], "usage": usage}
        return static_response(200, orjson.dumps(doc), _JSON)

    async def _frames(
        self, head: dict[str, Any], reply: str, finish: str, usage: dict[str, Any] | None
    ) -> AsyncGenerator[bytes, None]:
        base = {**head, "object": "chat.completion.chunk"}
        if usage is not None:
            base["usage"] = None

        def frame(delta: dict[str, Any], finish_reason: str | None = None) -> bytes:
            choice = {"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish_reason}
            return b"data: " + orjson.dumps({**base, "choices": [choice]}) + b"\n\n"

        await asyncio.sleep(self._latency_s)
        yield frame({"role": "assistant", "content": "", "refusal": None})
        for index, piece in enumerate(_pieces(reply, self._chunks)):
            if index:
                await asyncio.sleep(self._interval_s)
            yield frame({"content": piece})
        yield frame({}, finish)
        if usage is not None:
            yield b"data: " + orjson.dumps({**base, "choices": [], "usage": usage}) + b"\n\n"
        yield b"data: [DONE]\n\n"
