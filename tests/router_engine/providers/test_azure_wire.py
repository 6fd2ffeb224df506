"""The Azure adapter over real HTTP: its requests sent to the fake Azure server with aiohttp.

The fake refuses what Azure refuses (no ``api-version``, a bearer token instead of ``api-key``,
``stream_options`` on an old version), so a passing call shows the adapter addressed Azure
correctly; the relayed replies must validate as the official ``openai`` types.
"""

from __future__ import annotations

import asyncio
import dataclasses
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import orjson
import pytest
from openai.types.chat import ChatCompletion

from router_engine.deployment import Deployment
from router_engine.providers.azure import AzureOpenAIAdapter
from schemas.config import ProviderConfig
from schemas.errors import (
    ContentPolicyViolation,
    ContextLengthExceeded,
    LLMuxError,
    UpstreamAuthError,
    UpstreamError,
    UpstreamRateLimited,
    UpstreamUnavailable,
)
from schemas.token_usage import TokenUsage
from tests.fakes.azure_server import (
    DEFAULT_API_KEY,
    UNDERLYING_MODEL,
    run_azure_server,
    start_azure_server,
)
from tests.router_engine.providers.wire import Streamed, complete_with, send, stream_with

WEATHER_TOOL = {"type": "function", "function": {
    "name": "get_weather", "parameters": {"type": "object", "properties": {
        "city": {"type": "string"}}, "required": ["city"]}}}


@pytest.fixture
async def endpoint() -> AsyncIterator[str]:
    runner, url = await start_azure_server()
    yield url
    await runner.cleanup()


def make(endpoint: str, deployment_name: str = "gpt4o", **fields: Any
         ) -> tuple[AzureOpenAIAdapter, Deployment]:
    settings: dict[str, Any] = {"api_key": DEFAULT_API_KEY, "base_url": endpoint, **fields}
    config = ProviderConfig(name="az", type="azure", **settings)
    deployment = Deployment(id="az/gpt-4o", model_group="gpt-4o",
                            upstream_model=deployment_name, provider=config)
    return AzureOpenAIAdapter(config), deployment


def chat(text: str, **fields: Any) -> dict[str, Any]:
    return {"model": "gpt-4o", "messages": [{"role": "user", "content": text}], **fields}


async def complete(endpoint: str, body: dict[str, Any], deployment_name: str = "gpt4o",
                   **fields: Any) -> tuple[ChatCompletion, TokenUsage | None]:
    adapter, deployment = make(endpoint, deployment_name, **fields)
    return await complete_with(adapter, deployment, body)


async def stream(endpoint: str, body: dict[str, Any], deployment_name: str = "gpt4o",
                 *, include_usage: bool = True) -> Streamed:
    adapter, deployment = make(endpoint, deployment_name)
    return await stream_with(adapter, deployment, body, include_usage=include_usage)


async def test_text_streamed_and_not_say_and_cost_the_same(endpoint: str) -> None:
    completion, usage = await complete(endpoint, chat("Hello Azure"))
    streamed = await stream(endpoint, chat("Hello Azure"))
    assert completion.model == UNDERLYING_MODEL
    assert completion.choices[0].message.content == "Echo: Hello Azure"
    assert streamed.content() == "Echo: Hello Azure"
    assert streamed.saw_done and streamed.frames[-1] == b"data: [DONE]\n\n"
    assert usage is not None and usage.total_tokens > 0
    assert streamed.usage == usage
    assert all(chunk.choices or chunk.usage for chunk in streamed.chunks), (
        "Azure's choice-less prompt-filter chunk is not relayed")


async def test_usage_chunk_only_when_the_client_asked(endpoint: str) -> None:
    streamed = await stream(endpoint, chat("Hi"), include_usage=False)
    assert streamed.usage is not None, "the gateway still reads usage"
    assert all(chunk.usage is None for chunk in streamed.chunks)
    assert streamed.saw_done


async def test_request_reaches_the_deployment_path_with_the_key_header(endpoint: str) -> None:
    await complete(endpoint, chat("Hi"), "prod-4o")
    async with aiohttp.ClientSession() as session, session.get(
        endpoint + "/fake/requests"
    ) as response:
        recorded = (await response.json())[-1]
    assert recorded["path"] == "/openai/deployments/prod-4o/chat/completions"
    assert recorded["query"] == {"api-version": "2024-10-21"}
    assert recorded["headers"]["api-key"] == DEFAULT_API_KEY
    assert "authorization" not in recorded["headers"]


async def test_tool_call_round_trip(endpoint: str) -> None:
    first = chat("Weather in Paris?", tools=[WEATHER_TOOL])
    completion, _ = await complete(endpoint, first, "gpt4o-fake-tool-use")
    streamed = await stream(endpoint, first, "gpt4o-fake-tool-use")
    message = completion.choices[0].message
    assert completion.choices[0].finish_reason == "tool_calls"
    assert message.tool_calls is not None
    call = message.tool_calls[0]
    assert orjson.loads(call.function.arguments) == {"city": "Paris"}
    deltas = [c for chunk in streamed.chunks for choice in chunk.choices
              for c in choice.delta.tool_calls or []]
    assert deltas[0].id and deltas[0].function and deltas[0].function.name == "get_weather"
    assert "".join(d.function.arguments or "" for d in deltas if d.function) == (
        call.function.arguments)
    follow_up = {**first, "messages": [
        *first["messages"], message.model_dump(exclude_none=True),
        {"role": "tool", "tool_call_id": call.id, "content": "sunny"}]}
    answer, _ = await complete(endpoint, follow_up, "gpt4o-fake-tool-use")
    assert answer.choices[0].message.content == "Echo: sunny"


async def test_cached_tokens(endpoint: str) -> None:
    _, usage = await complete(endpoint, chat("Again"), "gpt4o-fake-cached")
    assert usage is not None and 0 < usage.cached_tokens <= usage.prompt_tokens


async def test_filtered_output_is_a_normal_reply(endpoint: str) -> None:
    completion, _ = await complete(endpoint, chat("Hi"), "gpt4o-fake-filtered-output")
    assert completion.choices[0].finish_reason == "content_filter"


@pytest.mark.parametrize(
    ("deployment_name", "error"),
    [("gpt4o-fake-rate-limit", UpstreamRateLimited),
     ("gpt4o-fake-content-filter", ContentPolicyViolation),
     ("gpt4o-fake-prompt-too-long", ContextLengthExceeded),
     ("gpt4o-fake-auth-error", UpstreamAuthError),
     ("gpt4o-fake-not-found", UpstreamError),
     ("gpt4o-fake-server-error", UpstreamError),
     ("gpt4o-fake-unavailable", UpstreamUnavailable)],
)
async def test_error_replies_map_to_gateway_errors(
    endpoint: str, deployment_name: str, error: type[LLMuxError]
) -> None:
    with pytest.raises(error) as caught:
        await complete(endpoint, chat("Hi"), deployment_name)
    assert type(caught.value) is error


async def test_wrong_key_is_an_auth_error(endpoint: str) -> None:
    with pytest.raises(UpstreamAuthError):
        await complete(endpoint, chat("Hi"), api_key="not-the-key")


async def test_an_old_api_version_refuses_stream_options(endpoint: str) -> None:
    adapter, deployment = make(endpoint, api_version="2024-02-01")
    status, raw = await send(adapter.build_request(chat("Hi"), deployment, is_streaming=True))
    assert status == 400
    assert "stream_options" in adapter.parse_error(status, raw).message


async def test_a_url_without_api_version_is_not_found(endpoint: str) -> None:
    adapter, deployment = make(endpoint)
    request = adapter.build_request(chat("Hi"), deployment, is_streaming=False)
    status, raw = await send(dataclasses.replace(request, url=request.url.split("?")[0]))
    assert status == 404
    assert type(adapter.parse_error(status, raw)) is UpstreamError


async def test_truncated_stream_is_not_complete(endpoint: str) -> None:
    streamed = await stream(endpoint, chat("Tell me a long story"), "gpt4o-fake-truncated")
    assert isinstance(streamed.failure, aiohttp.ClientPayloadError)
    assert not streamed.saw_done
    assert streamed.content().startswith("Echo:")


async def test_midstream_error_surfaces_after_the_text_before_it(endpoint: str) -> None:
    streamed = await stream(endpoint, chat("Tell me a long story"), "gpt4o-fake-midstream-error")
    assert isinstance(streamed.failure, UpstreamError)
    assert "crashed" in str(streamed.failure)
    assert streamed.content().startswith("Echo:")
    assert not streamed.saw_done


def test_runs_as_a_subprocess() -> None:
    with run_azure_server() as url:
        adapter, deployment = make(url)
        request = adapter.build_request(chat("Hi"), deployment, is_streaming=False)
        status, raw = asyncio.run(send(request))
    assert status == 200
    completion = ChatCompletion.model_validate_json(adapter.parse_response(raw, deployment).body)
    assert completion.choices[0].message.content == "Echo: Hi"
