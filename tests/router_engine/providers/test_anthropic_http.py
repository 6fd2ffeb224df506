"""The Anthropic adapter against the fake Anthropic server over real HTTP.

The adapter's ``UpstreamRequest`` is sent with aiohttp exactly as built; what comes back is
translated and checked with the official ``openai`` SDK's types, as a client would read it.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import aiohttp
import anthropic
import orjson
import pytest
from openai.types.chat import ChatCompletion, ChatCompletionChunk

from router_engine.deployment import Deployment
from router_engine.providers.anthropic import AnthropicAdapter
from router_engine.providers.base import ParsedResponse, StreamTranslator
from router_engine.translation import (
    OpenAIStreamToAnthropic,
    anthropic_request_to_openai,
    openai_response_to_anthropic,
)
from router_engine.upstream.base import UpstreamRequest
from schemas.config import ProviderConfig
from schemas.errors import (
    ContextLengthExceeded,
    LLMuxError,
    UpstreamAuthError,
    UpstreamError,
    UpstreamRateLimited,
    UpstreamUnavailable,
)
from tests.fakes.anthropic_server import run_anthropic_server
from tests.router_engine.translation.golden import sse_events

API_KEY = "sk-ant-fake-key"
_HELLO = {"model": "claude", "messages": [{"role": "user", "content": "Hello there"}],
          "max_tokens": 200}


@pytest.fixture(scope="module")
def base_url() -> Iterator[str]:
    with run_anthropic_server(api_key=API_KEY) as url:
        yield url


def _setup(base_url: str, model: str = "claude-3-5-sonnet", *, api_key: str = API_KEY,
           headers: dict[str, str] | None = None) -> tuple[AnthropicAdapter, Deployment]:
    config = ProviderConfig(name="anthropic", type="anthropic", api_key=api_key,
                            base_url=base_url, models=["claude"], headers=headers or {})
    deployment = Deployment(id="anthropic/claude", model_group="claude", upstream_model=model,
                            provider=config)
    return AnthropicAdapter(config), deployment


async def _call(request: UpstreamRequest) -> tuple[int, list[bytes]]:
    """Send ``request`` as built; the body as the network delivered it, chunk by chunk."""
    timeout = aiohttp.ClientTimeout(total=30)
    async with aiohttp.ClientSession(timeout=timeout) as session, session.request(
        request.method, request.url, headers=dict(request.headers), data=request.body
    ) as response:
        return response.status, [chunk async for chunk in response.content.iter_any()]


async def _complete(adapter: AnthropicAdapter, deployment: Deployment,
                    body: dict[str, Any]) -> ParsedResponse:
    status, chunks = await _call(adapter.build_request(body, deployment, is_streaming=False))
    if status != 200:
        raise adapter.parse_error(status, b"".join(chunks))
    parsed = adapter.parse_response(b"".join(chunks), deployment)
    ChatCompletion.model_validate_json(parsed.body)
    return parsed


async def _stream(adapter: AnthropicAdapter, deployment: Deployment, body: dict[str, Any],
                  *, include_usage: bool = True) -> tuple[StreamTranslator, list[dict[str, Any]]]:
    """Stream ``body``; every frame but ``[DONE]`` decoded (and checked by the SDK's type)."""
    status, chunks = await _call(adapter.build_request(body, deployment, is_streaming=True))
    assert status == 200, b"".join(chunks)
    translator = adapter.stream_translator(deployment, forward_usage_chunk=include_usage)
    frames = [frame for chunk in chunks for frame in translator.feed(chunk)]
    events = sse_events(b"".join(frames + translator.finish()))
    assert events[-1] == (None, "[DONE]")
    decoded = [data for _, data in events[:-1]]
    for data in decoded:
        ChatCompletionChunk.model_validate(data)
    return translator, decoded


def _streamed_message(chunks: list[dict[str, Any]]) -> dict[str, Any]:
    """The message a client assembles from the chunks' deltas."""
    content, reasoning, calls = "", "", {}
    for chunk in chunks:
        for choice in chunk["choices"]:
            delta = choice["delta"]
            content += delta.get("content") or ""
            reasoning += delta.get("reasoning_content") or ""
            for call in delta.get("tool_calls") or []:
                entry = calls.setdefault(call["index"], {"id": "", "name": "", "arguments": ""})
                entry["id"] += call.get("id", "")
                entry["name"] += call.get("function", {}).get("name", "")
                entry["arguments"] += call.get("function", {}).get("arguments", "")
    return {"content": content, "reasoning": reasoning, "calls": list(calls.values())}


async def test_a_completion_comes_back_as_an_openai_chat_completion(base_url: str) -> None:
    adapter, deployment = _setup(base_url)
    parsed = await _complete(adapter, deployment, _HELLO)
    completion = ChatCompletion.model_validate_json(parsed.body)
    assert completion.choices[0].message.content == (
        "Hello from the fake Anthropic server. You said: Hello there")
    assert completion.choices[0].finish_reason == "stop"
    assert parsed.usage is not None and parsed.usage.prompt_tokens > 0
    assert completion.usage is not None
    assert completion.usage.completion_tokens == parsed.usage.completion_tokens


async def test_the_request_carries_key_and_version_headers(base_url: str) -> None:
    adapter, deployment = _setup(base_url)
    await _complete(adapter, deployment, _HELLO)
    async with aiohttp.ClientSession() as session, \
            session.get(f"{base_url}/fake/requests") as response:
        recorded = (await response.json())[-1]
    assert recorded["headers"]["x-api-key"] == API_KEY
    assert recorded["headers"]["anthropic-version"] == "2023-06-01"
    assert orjson.loads(recorded["body"])["max_tokens"] == 200


@pytest.mark.parametrize("model", ["claude-3-5-sonnet", "claude-fake-tool-use",
                                   "claude-fake-thinking", "claude-fake-cached"])
async def test_streamed_and_plain_replies_agree_on_content_and_usage(
    base_url: str, model: str
) -> None:
    adapter, deployment = _setup(base_url, model)
    body = {**_HELLO, "tools": [{"type": "function", "function": {"name": "get_weather"}}]}
    parsed = await _complete(adapter, deployment, body)
    translator, chunks = await _stream(adapter, deployment, body)
    assert translator.saw_done
    assert translator.usage == parsed.usage  # the same charge, so the same cost
    assert chunks[-1]["usage"]["prompt_tokens"] == parsed.usage.prompt_tokens  # type: ignore[union-attr]  # asserted equal above
    message = orjson.loads(parsed.body)["choices"][0]["message"]
    streamed = _streamed_message(chunks)
    assert streamed["content"] == message["content"]
    assert streamed["reasoning"] == message.get("reasoning_content", "")
    assert [(c["id"], c["name"], orjson.loads(c["arguments"])) for c in streamed["calls"]] == [
        (c["id"], c["function"]["name"], orjson.loads(c["function"]["arguments"]))
        for c in message.get("tool_calls", [])]
    assert translator.text()


async def test_cached_and_reasoning_tokens_are_kept_apart(base_url: str) -> None:
    adapter, deployment = _setup(base_url, "claude-fake-cached")
    cached = await _complete(adapter, deployment, _HELLO)
    assert cached.usage is not None and cached.usage.cached_tokens == 1000
    assert cached.usage.prompt_tokens > 1000 + 11
    adapter, deployment = _setup(base_url, "claude-fake-thinking")
    thinking = await _complete(adapter, deployment, _HELLO)
    assert thinking.usage is not None
    assert 0 < thinking.usage.reasoning_tokens < thinking.usage.completion_tokens


async def test_no_usage_chunk_unless_the_client_asked(base_url: str) -> None:
    adapter, deployment = _setup(base_url)
    translator, chunks = await _stream(adapter, deployment, _HELLO, include_usage=False)
    assert not any("usage" in chunk for chunk in chunks)
    assert translator.usage is not None and translator.usage.completion_tokens > 0
    assert chunks[-1]["choices"][0]["finish_reason"] == "stop"


async def test_a_tool_conversation_round_trips(base_url: str) -> None:
    adapter, deployment = _setup(base_url, "claude-fake-tool-use")
    tools = [{"type": "function", "function": {
        "name": "get_weather", "parameters": {"type": "object",
                                              "properties": {"city": {"type": "string"}}}}}]
    first = {**_HELLO, "tools": tools, "tool_choice": "auto"}
    reply = orjson.loads((await _complete(adapter, deployment, first)).body)
    assistant = reply["choices"][0]["message"]
    assert reply["choices"][0]["finish_reason"] == "tool_calls"
    call = assistant["tool_calls"][0]
    assert orjson.loads(call["function"]["arguments"]) == {"city": "Paris", "unit": "celsius"}
    image = {"type": "image_url", "image_url": {"url": "data:image/png;base64,iVBORw0KGgo="}}
    follow_up = {**first, "messages": [
        *first["messages"], assistant,
        {"role": "tool", "tool_call_id": call["id"], "content": "18 C"},
        {"role": "user", "content": [{"type": "text", "text": "And now?"}, image]}]}
    # The fake, like Anthropic, refuses tool results that do not answer the previous turn.
    final = await _complete(adapter, deployment, follow_up)
    assert "You said: And now?" in orjson.loads(final.body)["choices"][0]["message"]["content"]


async def test_stop_sequences_and_max_tokens_map_to_finish_reasons(base_url: str) -> None:
    adapter, deployment = _setup(base_url)
    stopped = await _complete(adapter, deployment, {**_HELLO, "stop": ["said"]})
    choice = orjson.loads(stopped.body)["choices"][0]
    assert choice["finish_reason"] == "stop"
    assert choice["message"]["content"] == "Hello from the fake Anthropic server. You "
    _, chunks = await _stream(adapter, deployment, {**_HELLO, "max_completion_tokens": 3})
    assert _streamed_message(chunks)["content"] == "Hello from the"
    assert [c["choices"][0]["finish_reason"] for c in chunks if c["choices"]][-1] == "length"


@pytest.mark.parametrize(("model", "error", "status"), [
    ("claude-fake-rate-limit", UpstreamRateLimited, 429),
    ("claude-fake-overloaded", UpstreamUnavailable, 503),
    ("claude-fake-prompt-too-long", ContextLengthExceeded, 400),
    ("claude-fake-server-error", UpstreamError, 502),
])
async def test_error_replies_become_gateway_errors(
    base_url: str, model: str, error: type[LLMuxError], status: int
) -> None:
    adapter, deployment = _setup(base_url, model)
    for is_streaming in (False, True):
        request = adapter.build_request(_HELLO, deployment, is_streaming=is_streaming)
        upstream_status, chunks = await _call(request)
        mapped = adapter.parse_error(upstream_status, b"".join(chunks))
        assert type(mapped) is error
        assert mapped.status == status


async def test_a_refused_key_is_an_upstream_auth_error(base_url: str) -> None:
    adapter, deployment = _setup(base_url, api_key="sk-ant-wrong")
    with pytest.raises(UpstreamAuthError) as caught:
        await _complete(adapter, deployment, _HELLO)
    assert "sk-ant-wrong" not in caught.value.message


async def test_an_error_event_mid_stream_is_raised_after_the_text_so_far(base_url: str) -> None:
    adapter, deployment = _setup(base_url, "claude-fake-midstream-error")
    status, chunks = await _call(adapter.build_request(_HELLO, deployment, is_streaming=True))
    assert status == 200
    translator = adapter.stream_translator(deployment, forward_usage_chunk=True)
    frames: list[bytes] = []
    with pytest.raises(UpstreamUnavailable):
        for chunk in chunks:
            frames.extend(translator.feed(chunk))
        translator.finish()
    assert b"You said" in b"".join(frames)
    assert not translator.saw_done
    partial = translator.usage  # exact prompt; completion counted from the streamed text
    assert partial is not None and partial.prompt_tokens > 0 and partial.is_estimated
    assert partial.completion_tokens >= len(translator.text()) // 4 > 1


async def test_a_truncated_stream_is_not_done(base_url: str) -> None:
    adapter, deployment = _setup(base_url, "claude-fake-truncated")
    status, chunks = await _call(adapter.build_request(_HELLO, deployment, is_streaming=True))
    assert status == 200
    translator = adapter.stream_translator(deployment, forward_usage_chunk=True)
    frames = [frame for chunk in chunks for frame in translator.feed(chunk)]
    frames += translator.finish()
    assert frames and b"[DONE]" not in b"".join(frames)
    assert not translator.saw_done


async def test_a_stalled_stream_resumes_and_completes(base_url: str) -> None:
    adapter, deployment = _setup(base_url, headers={"x-fake-scenario": "stall",
                                                    "x-fake-stall-s": "0.2"})
    translator, chunks = await _stream(adapter, deployment, _HELLO)
    assert translator.saw_done
    assert _streamed_message(chunks)["content"].startswith("Hello from the fake")


async def test_an_anthropic_client_served_by_anthropic_through_both_translations(
    base_url: str,
) -> None:
    """/v1/messages on an Anthropic model: Anthropic → OpenAI → Anthropic and back again."""
    adapter, deployment = _setup(base_url, "claude-fake-tool-use")
    client_body = {
        "model": "claude", "max_tokens": 300, "system": [{"type": "text", "text": "Be brief."}],
        "tools": [{"name": "get_weather", "input_schema": {"type": "object"}}],
        "messages": [
            {"role": "user", "content": "Weather?"},
            {"role": "assistant", "content": [
                {"type": "tool_use", "id": "toolu_9", "name": "get_weather", "input": {}}]},
            {"role": "user", "content": [
                {"type": "tool_result", "tool_use_id": "toolu_9", "content": "18 C"},
                {"type": "text", "text": "Thanks"}]}],
    }
    canonical = anthropic_request_to_openai(client_body)
    parsed = await _complete(adapter, deployment, canonical)  # the fake checks tool_result ids
    message = anthropic.types.Message.model_validate(
        openai_response_to_anthropic(parsed.body, model="claude"))
    assert message.stop_reason == "tool_use"
    assert [block.type for block in message.content] == ["text", "tool_use"]

    status, chunks = await _call(adapter.build_request(canonical, deployment, is_streaming=True))
    assert status == 200
    translator = adapter.stream_translator(deployment, forward_usage_chunk=True)
    inbound = OpenAIStreamToAnthropic("claude")
    events = [event for chunk in chunks for frame in translator.feed(chunk)
              for event in inbound.feed(frame)]
    events += inbound.finish()
    names = [name for name, _ in sse_events(b"".join(events))]
    assert names[0] == "message_start" and names[-1] == "message_stop"
    final = sse_events(b"".join(events))[-2][1]
    assert final["delta"]["stop_reason"] == "tool_use"
    assert final["usage"]["output_tokens"] == message.usage.output_tokens
    assert final["usage"]["input_tokens"] == message.usage.input_tokens
