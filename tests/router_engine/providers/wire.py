"""Driving a provider adapter over real HTTP, as the router does, for the ``*_wire`` tests.

The Azure and Gemini wire tests send the adapter's ``UpstreamRequest`` to their fake server with
aiohttp and check that the translated reply validates as the official ``openai`` types; how a call
is sent, relayed and collected is the same for every provider, so it is written once here.
"""

from __future__ import annotations

from typing import Any

import aiohttp
from openai.types.chat import ChatCompletion, ChatCompletionChunk

from router_engine.deployment import Deployment
from router_engine.providers.base import ProviderAdapter
from router_engine.upstream.base import UpstreamRequest
from schemas.errors import LLMuxError
from schemas.token_usage import TokenUsage

__all__ = ["Streamed", "complete_with", "send", "stream_with"]


async def send(request: UpstreamRequest) -> tuple[int, bytes]:
    """The status and raw body the server answers to ``request``."""
    async with aiohttp.ClientSession() as session, session.post(
        request.url, headers=dict(request.headers), data=request.body
    ) as response:
        return response.status, await response.read()


async def complete_with(adapter: ProviderAdapter, deployment: Deployment, body: dict[str, Any]
                        ) -> tuple[ChatCompletion, TokenUsage | None]:
    """A non-streamed call; raises the mapped gateway error for a non-2xx reply."""
    status, raw = await send(adapter.build_request(body, deployment, is_streaming=False))
    if status != 200:
        raise adapter.parse_error(status, raw)
    parsed = adapter.parse_response(raw, deployment)
    return ChatCompletion.model_validate_json(parsed.body), parsed.usage


class Streamed:
    """What a streamed call produced: validated chunks, raw frames, and the translator's view."""

    def __init__(self) -> None:
        self.frames: list[bytes] = []
        self.chunks: list[ChatCompletionChunk] = []
        self.usage: TokenUsage | None = None
        self.saw_done = False
        self.failure: Exception | None = None

    def content(self, index: int = 0) -> str:
        return "".join(choice.delta.content or "" for chunk in self.chunks
                       for choice in chunk.choices if choice.index == index)

    def tool_calls(self) -> list[Any]:
        return [call for chunk in self.chunks for choice in chunk.choices
                for call in choice.delta.tool_calls or []]


async def stream_with(adapter: ProviderAdapter, deployment: Deployment, body: dict[str, Any],
                      *, include_usage: bool = True) -> Streamed:
    """A streamed call, relayed chunk by chunk through the translator as the router does.

    A gateway error or a broken body is kept in ``failure``, after the frames that came before it.
    """
    request = adapter.build_request(body, deployment, is_streaming=True)
    translator = adapter.stream_translator(deployment, forward_usage_chunk=include_usage)
    result = Streamed()
    try:
        async with aiohttp.ClientSession() as session, session.post(
            request.url, headers=dict(request.headers), data=request.body
        ) as response:
            assert response.status == 200, await response.read()
            async for data in response.content.iter_any():
                result.frames.extend(translator.feed(data))
        result.frames.extend(translator.finish())
    except (LLMuxError, aiohttp.ClientPayloadError) as exc:
        result.failure = exc
    for frame in result.frames:
        payload = frame.removeprefix(b"data: ").strip()
        if payload != b"[DONE]":
            result.chunks.append(ChatCompletionChunk.model_validate_json(payload))
    result.usage, result.saw_done = translator.usage, translator.saw_done
    return result
