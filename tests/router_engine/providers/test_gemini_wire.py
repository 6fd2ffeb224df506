"""The Gemini adapter over real HTTP: its requests sent to the fake Gemini server with aiohttp.

Each test builds the adapter's ``UpstreamRequest``, sends it to ``tests.fakes.gemini_server`` (which
refuses what Google refuses), and checks that the translated reply validates as the official
``openai`` types and says what the fake said.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import orjson
import pytest
from openai.types.chat import ChatCompletion

from router_engine.deployment import Deployment
from router_engine.providers.gemini import GeminiAdapter
from router_engine.upstream.base import UpstreamRequest
from schemas.config import ProviderConfig
from schemas.errors import (
    ContextLengthExceeded,
    InvalidRequest,
    LLMuxError,
    UpstreamAuthError,
    UpstreamError,
    UpstreamRateLimited,
    UpstreamUnavailable,
)
from schemas.token_usage import TokenUsage
from tests.fakes.gemini_server import DEFAULT_API_KEY, run_gemini_server, start_gemini_server
from tests.router_engine.providers.wire import Streamed, complete_with, send, stream_with

WEATHER_TOOL = {"type": "function", "function": {
    "name": "get_weather", "description": "Current weather.",
    "parameters": {"type": "object", "properties": {"city": {"type": "string"}},
                   "required": ["city"], "additionalProperties": False}}}


@pytest.fixture
async def base_url() -> AsyncIterator[str]:
    runner, url = await start_gemini_server()
    yield url
    await runner.cleanup()


def make(base_url: str, model: str = "gemini-2.5-flash",
         api_key: str = DEFAULT_API_KEY) -> tuple[GeminiAdapter, Deployment]:
    config = ProviderConfig(name="g1", type="gemini", api_key=api_key, base_url=base_url)
    deployment = Deployment(id="g1/m", model_group="m", upstream_model=model, provider=config)
    return GeminiAdapter(config), deployment


def chat(text: str, **fields: Any) -> dict[str, Any]:
    return {"model": "m", "messages": [{"role": "user", "content": text}], **fields}


async def complete(base_url: str, body: dict[str, Any], model: str = "gemini-2.5-flash",
                   api_key: str = DEFAULT_API_KEY) -> tuple[ChatCompletion, TokenUsage | None]:
    """A non-streamed call; raises the mapped gateway error for a non-2xx reply."""
    adapter, deployment = make(base_url, model, api_key)
    return await complete_with(adapter, deployment, body)


async def stream(base_url: str, body: dict[str, Any], model: str = "gemini-2.5-flash",
                 *, include_usage: bool = True) -> Streamed:
    """A streamed call, relayed chunk by chunk through the translator as the router does."""
    adapter, deployment = make(base_url, model)
    return await stream_with(adapter, deployment, body, include_usage=include_usage)


async def test_text_reply_streamed_and_not_say_and_cost_the_same(base_url: str) -> None:
    body = chat("Hello there, fake Gemini.", stream_options={"include_usage": True})
    completion, usage = await complete(base_url, body)
    streamed = await stream(base_url, body)
    assert completion.choices[0].message.content == "Echo: Hello there, fake Gemini."
    assert completion.choices[0].finish_reason == "stop"
    assert streamed.content() == completion.choices[0].message.content
    assert len(streamed.chunks) > 2, "the reply arrived in pieces"
    assert streamed.frames[-1] == b"data: [DONE]\n\n" and streamed.saw_done
    assert usage is not None and usage.prompt_tokens > 0 and usage.completion_tokens > 0
    assert streamed.usage == usage, "a streamed and a non-streamed call report the same usage"
    assert streamed.chunks[-1].usage is not None
    assert streamed.chunks[-1].usage.total_tokens == usage.total_tokens


async def test_usage_chunk_only_when_the_client_asked(base_url: str) -> None:
    streamed = await stream(base_url, chat("Hi"), include_usage=False)
    assert streamed.usage is not None, "the gateway still records usage"
    assert all(chunk.usage is None for chunk in streamed.chunks)
    assert streamed.saw_done


async def test_key_travels_in_the_header_never_the_url(base_url: str) -> None:
    await complete(base_url, chat("Hi"))
    async with aiohttp.ClientSession() as session, session.get(
        base_url.removesuffix("/v1beta") + "/fake/requests"
    ) as response:
        recorded = await response.json()
    assert recorded[-1]["headers"]["x-goog-api-key"] == DEFAULT_API_KEY
    assert recorded[-1]["query"] == {}
    assert recorded[-1]["path"] == "/v1beta/models/gemini-2.5-flash:generateContent"


async def test_tool_call_round_trip_on_gemini_3(base_url: str) -> None:
    model = "gemini-3-pro-fake-tool-use"  # Gemini 3 refuses replayed calls without a signature
    first = chat("Weather in Paris?", tools=[WEATHER_TOOL])
    completion, _ = await complete(base_url, first, model)
    streamed = await stream(base_url, first, model)
    message = completion.choices[0].message
    assert completion.choices[0].finish_reason == "tool_calls"
    assert message.tool_calls is not None and len(message.tool_calls) == 1
    call = message.tool_calls[0]
    assert (call.function.name, orjson.loads(call.function.arguments)) == (
        "get_weather", {"city": "Paris"})
    assert [c.id for c in streamed.tool_calls()] == [call.id], "same id streamed or not"
    follow_up = {**first, "messages": [
        *first["messages"], message.model_dump(exclude_none=True),
        {"role": "tool", "tool_call_id": call.id, "content": '{"sky": "sunny"}'}]}
    answer, _ = await complete(base_url, follow_up, model)
    assert answer.choices[0].message.content == 'Echo: {"sky":"sunny"}'
    assert answer.choices[0].finish_reason == "stop"


async def test_parallel_tool_calls_stream_with_distinct_indexes(base_url: str) -> None:
    streamed = await stream(base_url, chat("Two cities", tools=[WEATHER_TOOL]),
                            "gemini-fake-parallel-tool-use")
    calls = streamed.tool_calls()
    assert [c.index for c in calls] == [0, 1]
    assert len({c.id for c in calls}) == 2
    assert streamed.chunks[-2].choices[0].finish_reason == "tool_calls"


async def test_forced_tool_choice(base_url: str) -> None:
    body = chat("Anything", tools=[WEATHER_TOOL], tool_choice="required")
    completion, _ = await complete(base_url, body)
    assert completion.choices[0].message.tool_calls is not None
    body_none = chat("Anything", tools=[WEATHER_TOOL], tool_choice="none")
    completion, _ = await complete(base_url, body_none)
    assert completion.choices[0].message.tool_calls is None


async def test_thinking_tokens_are_reasoning_tokens(base_url: str) -> None:
    completion, usage = await complete(base_url, chat("Think"), "gemini-fake-thinking")
    assert usage is not None and usage.reasoning_tokens > 0
    assert completion.usage is not None
    assert completion.usage.completion_tokens_details is not None
    assert completion.usage.completion_tokens_details.reasoning_tokens == usage.reasoning_tokens
    assert completion.choices[0].message.content == "Echo: Think", "thoughts stay out of content"


async def test_cached_tokens(base_url: str) -> None:
    _, usage = await complete(base_url, chat("Again"), "gemini-fake-cached")
    assert usage is not None and 0 < usage.cached_tokens <= usage.prompt_tokens


async def test_json_schema_reply_is_json(base_url: str) -> None:
    schema = {"type": "object", "properties": {"echo": {"type": "string"}},
              "required": ["echo"], "additionalProperties": False}
    body = chat("Give JSON", response_format={"type": "json_schema", "json_schema": {
        "name": "echo", "strict": True, "schema": schema}})
    completion, _ = await complete(base_url, body)
    assert orjson.loads(completion.choices[0].message.content or "") == {"echo": "Give JSON"}


async def test_n_candidates_become_choices(base_url: str) -> None:
    completion, _ = await complete(base_url, chat("Pick", n=2))
    assert [c.index for c in completion.choices] == [0, 1]
    streamed = await stream(base_url, chat("Pick", n=2))
    assert streamed.content(0) == streamed.content(1) == "Echo: Pick"
    assert streamed.saw_done


async def test_logprobs_streamed_and_not(base_url: str) -> None:
    body = chat("Rate this", logprobs=True, top_logprobs=2)
    completion, _ = await complete(base_url, body)
    logprobs = completion.choices[0].logprobs
    assert logprobs is not None and logprobs.content is not None
    assert [t.token for t in logprobs.content] == ["Echo", ":", "Rate", "this"]
    assert all(len(t.top_logprobs) == 2 for t in logprobs.content)
    streamed = await stream(base_url, body)
    tokens = [t.token for chunk in streamed.chunks for choice in chunk.choices
              if choice.logprobs and choice.logprobs.content for t in choice.logprobs.content]
    assert tokens == ["Echo", ":", "Rate", "this"]


async def test_images_are_accepted(base_url: str) -> None:
    body = {"model": "m", "messages": [{"role": "user", "content": [
        {"type": "text", "text": "What is this?"},
        {"type": "image_url", "image_url": {"url": "data:image/png;base64,iVBORw0KGgo="}},
        {"type": "image_url", "image_url": {"url": "https://example.com/cat.png"}}]}]}
    completion, _ = await complete(base_url, body)
    assert completion.choices[0].message.content == "Echo: What is this?"


@pytest.mark.parametrize(("model", "finish"), [("gemini-fake-max-tokens", "length"),
                                               ("gemini-fake-blocked", "content_filter")])
async def test_finish_reasons_over_the_wire(base_url: str, model: str, finish: str) -> None:
    completion, _ = await complete(base_url, chat("Tell me a long story"), model)
    streamed = await stream(base_url, chat("Tell me a long story"), model)
    assert completion.choices[0].finish_reason == finish
    assert [c.choices[0].finish_reason for c in streamed.chunks if c.choices][-1] == finish


@pytest.mark.parametrize(
    ("model", "error"),
    [("gemini-fake-rate-limit", UpstreamRateLimited),
     ("gemini-fake-prompt-too-long", ContextLengthExceeded),
     ("gemini-fake-auth-error", UpstreamAuthError),
     ("gemini-fake-unavailable", UpstreamUnavailable),
     ("gemini-fake-server-error", UpstreamError)],
)
async def test_error_replies_map_to_gateway_errors(
    base_url: str, model: str, error: type[LLMuxError]
) -> None:
    with pytest.raises(error) as caught:
        await complete(base_url, chat("Hi"), model)
    assert type(caught.value) is error


async def test_wrong_key_is_an_auth_error(base_url: str) -> None:
    with pytest.raises(UpstreamAuthError):
        await complete(base_url, chat("Hi"), api_key="not-the-key")


async def test_a_body_google_refuses_maps_to_invalid_request(base_url: str) -> None:
    adapter, deployment = make(base_url)
    request = adapter.build_request(chat("x"), deployment, is_streaming=False)
    # Our translator never sends this (a function response with no call before it), so the
    # raw Gemini body is built by hand to see the fake refuse it as Google does.
    bad = {"contents": [{"role": "user", "parts": [{"functionResponse": {
        "name": "f", "response": {}}}]}]}
    status, raw = await send(UpstreamRequest(request.method, request.url, request.headers,
                                             orjson.dumps(bad)))
    error = adapter.parse_error(status, raw)
    assert status == 400
    assert type(error) is InvalidRequest
    assert "function response parts" in error.message


async def test_truncated_stream_is_not_complete(base_url: str) -> None:
    streamed = await stream(base_url, chat("Tell me a long story please"),
                            "gemini-fake-truncated")
    assert isinstance(streamed.failure, aiohttp.ClientPayloadError)
    assert not streamed.saw_done
    assert streamed.content().startswith("Echo: Tell")
    assert b"data: [DONE]\n\n" not in streamed.frames
    assert streamed.usage is None, "no output count came, so the gateway counts what streamed"


async def test_midstream_error_surfaces_after_the_text_before_it(base_url: str) -> None:
    streamed = await stream(base_url, chat("Tell me a long story please"),
                            "gemini-fake-midstream-error")
    assert isinstance(streamed.failure, UpstreamUnavailable)
    assert streamed.content().startswith("Echo: Tell")
    assert not streamed.saw_done


def test_runs_as_a_subprocess() -> None:
    with run_gemini_server() as url:
        assert url.endswith("/v1beta")
        adapter, deployment = make(url)
        request = adapter.build_request(chat("Hi"), deployment, is_streaming=False)
        status, raw = asyncio.run(send(request))
    assert status == 200
    completion = ChatCompletion.model_validate_json(adapter.parse_response(raw, deployment).body)
    assert completion.choices[0].message.content == "Echo: Hi"


async def test_stalled_stream_goes_silent_after_its_first_events(base_url: str) -> None:
    config = ProviderConfig(name="g1", type="gemini", api_key=DEFAULT_API_KEY, base_url=base_url,
                            headers={"x-fake-stall-s": "5"})
    deployment = Deployment(id="g1/m", model_group="m", upstream_model="gemini-fake-stall",
                            provider=config)
    adapter = GeminiAdapter(config)
    request = adapter.build_request(chat("Tell me a long story please"), deployment,
                                    is_streaming=True)
    translator = adapter.stream_translator(deployment, forward_usage_chunk=False)
    frames: list[bytes] = []
    timeout = aiohttp.ClientTimeout(sock_read=0.3)
    async with aiohttp.ClientSession(timeout=timeout) as session, session.post(
        request.url, headers=dict(request.headers), data=request.body
    ) as response:
        with pytest.raises(asyncio.TimeoutError):
            async for data in response.content.iter_any():
                frames.extend(translator.feed(data))
    assert len(frames) == 2, "the events before the stall arrived"
    assert not translator.saw_done
