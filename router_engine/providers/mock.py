"""The ``mock`` provider: an in-process OpenAI upstream, so the gateway runs with no network.

``MockAdapter`` is the OpenAI adapter pointed at ``http://mock.invalid/v1``; ``MockUpstream`` is
the handler behind a ``MockTransport`` that answers those requests the way OpenAI would: a
deterministic reply derived from the last user message, real token counts (``router_engine.tokens``)
in ``usage``, ``MockOptions.latency`` before the reply, and streams of ``stream_chunks`` content
chunks ``chunk_interval`` apart, a usage chunk when asked, then ``data: [DONE]``. It also
answers ``/completions`` (the same echo as a ``text_completion``) and ``/embeddings``, and calls a
tool when a request forces one (``mock_operations``).
"""

from __future__ import annotations

import asyncio
import hashlib
import time
from collections.abc import AsyncGenerator
from typing import Any, ClassVar

import orjson

from router_engine.providers.mock_operations import mock_embeddings, mock_tool_calls
from router_engine.providers.openai import OpenAIAdapter
from router_engine.providers.openai_operations import input_tokens
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
_PATHS = ("/chat/completions", "/completions", "/embeddings")


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
        url = request.url
        if request.method != "POST" or not url.endswith(_PATHS):
            error = {"error": {"message": "Unknown mock endpoint.", "type": "invalid_request_error",
                               "param": None, "code": "unknown_url"}}
            return static_response(404, orjson.dumps(error), _JSON)
        body = orjson.loads(request.body or b"{}")
        model = str(body.get("model") or "mock")
        digest = hashlib.sha256(request.body or b"").hexdigest()
        head = {"id": "chatcmpl-mock" + digest[:20], "created": int(time.time()), "model": model,
                "system_fingerprint": "fp_llmux_mock"}
        if url.endswith("/embeddings"):
            await asyncio.sleep(self._latency_s)
            return static_response(200, orjson.dumps(mock_embeddings(body, model)), _JSON)
        if url.endswith("/chat/completions"):
            kind, choices, message, usage = _chat_reply(body, model, digest, self._chunks)
        else:
            head["id"] = "cmpl-mock" + digest[:20]
            kind, choices, message, usage = _text_completion(body, model, self._chunks)
        if body.get("stream"):
            wants_usage = (body.get("stream_options") or {}).get("include_usage")
            frames = self._stream({**head, "object": f"{kind}.chunk" if kind.startswith("chat")
                                   else kind}, choices, usage if wants_usage else None)
            return UpstreamResponse(200, _SSE, frames, frames.aclose)
        await asyncio.sleep(self._latency_s)
        doc = {**head, "object": kind, "choices": [message], "usage": usage}
        return static_response(200, orjson.dumps(doc), _JSON)

    async def _stream(
        self, base: dict[str, Any], choices: list[dict[str, Any]], usage: dict[str, Any] | None
    ) -> AsyncGenerator[bytes, None]:
        if usage is not None:
            base = {**base, "usage": None}
        await asyncio.sleep(self._latency_s)
        for index, choice in enumerate(choices):
            if index > 1:
                await asyncio.sleep(self._interval_s)
            yield b"data: " + orjson.dumps({**base, "choices": [choice]}) + b"\n\n"
        if usage is not None:
            yield b"data: " + orjson.dumps({**base, "choices": [], "usage": usage}) + b"\n\n"
        yield b"data: [DONE]\n\n"


_Reply = tuple[str, list[dict[str, Any]], dict[str, Any], dict[str, Any]]
"""(object kind, streamed choices, the whole choice, usage) of one mock answer."""


def _chat_choice(delta: dict[str, Any], finish: str | None = None) -> dict[str, Any]:
    return {"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish}


def _chat_reply(body: dict[str, Any], model: str, digest: str, chunks: int) -> _Reply:
    prompt_tokens = count_request_prompt_tokens(body, model)
    calls = mock_tool_calls(body, "call_mock" + digest[:24])
    stream = [_chat_choice({"role": "assistant", "content": "", "refusal": None})]
    if calls:
        function = calls[0]["function"]
        completion = count_text_tokens(function["name"] + function["arguments"], model)
        opened = {**calls[0], "index": 0, "function": {"name": function["name"],
                                                       "arguments": ""}}
        stream.append(_chat_choice({"tool_calls": [opened]}))
        stream += [_chat_choice({"tool_calls": [{"index": 0, "function": {"arguments": piece}}]})
                   for piece in _pieces(function["arguments"], chunks)]
        stream.append(_chat_choice({}, "tool_calls"))
        message = {"role": "assistant", "content": None, "refusal": None, "tool_calls": calls}
        whole = {"index": 0, "message": message, "logprobs": None, "finish_reason": "tool_calls"}
        return "chat.completion", stream, whole, _usage(prompt_tokens, completion)
    reply, finish = _reply(body, model)
    stream += [_chat_choice({"content": piece}) for piece in _pieces(reply, chunks)]
    stream.append(_chat_choice({}, finish))
    message = {"role": "assistant", "content": reply, "refusal": None}
    whole = {"index": 0, "message": message, "logprobs": None, "finish_reason": finish}
    usage = _usage(prompt_tokens, count_text_tokens(reply, model))
    return "chat.completion", stream, whole, usage


def _text_completion(body: dict[str, Any], model: str, chunks: int) -> _Reply:
    prompt = body.get("prompt")
    prompt_text = prompt if isinstance(prompt, str) else " ".join(
        p for p in prompt if isinstance(p, str)) if isinstance(prompt, list) else ""
    reply, finish = _reply({**body, "messages": [{"role": "user", "content": prompt_text}]},
                           model)
    def choice(text: str, finish_reason: str | None) -> dict[str, Any]:
        return {"text": text, "index": 0, "logprobs": None, "finish_reason": finish_reason}

    stream = [choice(piece, None) for piece in _pieces(reply, chunks)] + [choice("", finish)]
    usage = _usage(input_tokens(prompt, model), count_text_tokens(reply, model))
    return "text_completion", stream, choice(reply, finish), usage
