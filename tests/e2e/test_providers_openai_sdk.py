"""The official ``openai`` SDK against a real gateway, for every provider type.

One gateway process serves all provider types (``surface_gateway``), each against its fake
upstream; every test runs once per provider type: chat (sync, async, streamed), tools, embeddings,
the Responses API (streamed with its own event types) and legacy completions.
"""

from __future__ import annotations

import asyncio
import base64
import struct
from collections.abc import Iterator
from typing import Any

import openai
import orjson
import pytest

from tests.e2e.surface_gateway import CHAT, EMBED, MASTER, PROVIDERS, TOOLS, Fakes, surface_gateway
from tests.fakes.fixtures import FakeServer

MESSAGES = [{"role": "user", "content": "Say hello to the gateway"}]
WEATHER_TOOL = {"type": "function", "function": {
    "name": "get_weather", "description": "Current weather of a city",
    "parameters": {"type": "object", "properties": {"city": {"type": "string"}},
                   "required": ["city"]}}}


@pytest.fixture(scope="module")
def surface(tmp_path_factory: pytest.TempPathFactory,
            fake_openai_server: FakeServer) -> Iterator[tuple[str, Fakes]]:
    with surface_gateway(tmp_path_factory.mktemp("surface-openai"),
                         fake_openai_server.base_url) as running:
        yield running


@pytest.fixture(scope="module")
def client(surface: tuple[str, Fakes]) -> openai.OpenAI:
    return openai.OpenAI(base_url=f"{surface[0]}/v1", api_key=MASTER, max_retries=0)


# --- chat -----------------------------------------------------------------------------------

@pytest.mark.parametrize("provider", PROVIDERS)
def test_chat_streamed_and_not_say_the_same(client: openai.OpenAI, provider: str) -> None:
    raw = client.chat.completions.with_raw_response.create(model=CHAT[provider],
                                                           messages=MESSAGES)
    assert raw.headers["x-llmux-deployment"].endswith("/" + CHAT[provider])
    assert raw.headers["x-llmux-cost-usd"]
    completion = raw.parse()
    text = completion.choices[0].message.content
    assert text and "hello to the gateway" in text.lower()
    assert completion.usage is not None and completion.usage.completion_tokens > 0
    chunks = list(client.chat.completions.create(
        model=CHAT[provider], messages=MESSAGES, stream=True,
        stream_options={"include_usage": True}))
    assert "".join(c.choices[0].delta.content or "" for c in chunks if c.choices) == text
    usage = [c.usage for c in chunks if c.usage is not None]
    assert len(usage) == 1 and usage[0].completion_tokens == completion.usage.completion_tokens


@pytest.mark.parametrize("provider", PROVIDERS)
def test_async_client_streams(surface: tuple[str, Fakes], provider: str) -> None:
    async def run() -> tuple[str, str]:
        async with openai.AsyncOpenAI(base_url=f"{surface[0]}/v1", api_key=MASTER,
                                      max_retries=0) as aclient:
            whole = await aclient.chat.completions.create(model=CHAT[provider],
                                                          messages=MESSAGES)
            stream = await aclient.chat.completions.create(model=CHAT[provider],
                                                           messages=MESSAGES, stream=True)
            parts = [c.choices[0].delta.content or "" async for c in stream if c.choices]
            return whole.choices[0].message.content or "", "".join(parts)

    whole, streamed = asyncio.run(run())
    assert whole and streamed == whole


def _tool_call_arguments(call: Any) -> dict[str, Any]:
    assert call.function.name == "get_weather"
    arguments: dict[str, Any] = orjson.loads(call.function.arguments)
    return arguments


@pytest.mark.parametrize("provider", PROVIDERS)
def test_tools_streamed_and_not(client: openai.OpenAI, provider: str) -> None:
    ask: dict[str, Any] = {"model": TOOLS[provider], "tools": [WEATHER_TOOL],
                           "tool_choice": "required",
                           "messages": [{"role": "user", "content": "Weather in Paris?"}]}
    completion = client.chat.completions.create(**ask)
    choice = completion.choices[0]
    assert choice.finish_reason == "tool_calls" and choice.message.tool_calls
    arguments = _tool_call_arguments(choice.message.tool_calls[0])
    assert set(arguments) >= {"city"}
    stream = client.chat.completions.create(**ask, stream=True)
    deltas = [d for c in stream if c.choices for d in c.choices[0].delta.tool_calls or []]
    assert deltas and deltas[0].id and deltas[0].function and deltas[0].function.name
    streamed = "".join(d.function.arguments or "" for d in deltas if d.function)
    assert orjson.loads(streamed) == arguments
    answer = client.chat.completions.create(model=TOOLS[provider], tools=[WEATHER_TOOL],
                                            messages=[
        *ask["messages"], choice.message.model_dump(exclude_none=True),
        {"role": "tool", "tool_call_id": choice.message.tool_calls[0].id,
         "content": "18C and sunny"}])
    assert answer.choices[0].message.content  # the tool result was accepted upstream


# --- embeddings -----------------------------------------------------------------------------

@pytest.mark.parametrize("provider", PROVIDERS)
def test_embeddings(client: openai.OpenAI, provider: str) -> None:
    if provider not in EMBED:
        with pytest.raises(openai.BadRequestError) as raised:
            client.embeddings.create(model=CHAT[provider], input="hello")
        assert raised.value.code == "not_supported"
        return
    raw = client.embeddings.with_raw_response.create(model=EMBED[provider],
                                                     input=["hello", "world", "hello"])
    assert raw.headers["x-llmux-cost-usd"]
    result = raw.parse()
    vectors = [item.embedding for item in sorted(result.data, key=lambda item: item.index)]
    assert len(vectors) == 3 and vectors[0] == vectors[2] != vectors[1]
    assert all(isinstance(v, float) for v in vectors[0])
    assert result.usage.prompt_tokens > 0
    encoded = client.embeddings.create(model=EMBED[provider], input="hello",
                                       encoding_format="base64").data[0].embedding
    if isinstance(encoded, str):  # the gateway encoded it (upstreams may ignore the format)
        raw_floats = base64.b64decode(encoded)
        encoded = list(struct.unpack(f"<{len(raw_floats) // 4}f", raw_floats))
    assert encoded == pytest.approx(vectors[0], abs=1e-6)


# --- the Responses API ----------------------------------------------------------------------

@pytest.mark.parametrize("provider", PROVIDERS)
def test_responses_streamed_and_not(client: openai.OpenAI, provider: str) -> None:
    response = client.responses.create(model=CHAT[provider], input="Say hello to the gateway",
                                       instructions="Be brief.")
    assert response.status == "completed" and response.model == CHAT[provider]
    assert "hello to the gateway" in response.output_text.lower()
    assert response.usage is not None and response.usage.output_tokens > 0
    events = list(client.responses.create(model=CHAT[provider],
                                          input="Say hello to the gateway",
                                          instructions="Be brief.", stream=True))
    kinds = [event.type for event in events]
    assert kinds[:2] == ["response.created", "response.in_progress"]
    assert kinds[-1] == "response.completed" and "response.output_text.delta" in kinds
    with client.responses.stream(model=CHAT[provider], input="Say hello to the gateway",
                                 instructions="Be brief.") as stream:
        final = stream.get_final_response()
    assert final.output_text == response.output_text
    assert final.usage is not None and final.usage.output_tokens == response.usage.output_tokens


@pytest.mark.parametrize("provider", PROVIDERS)
def test_responses_function_calls(client: openai.OpenAI, provider: str) -> None:
    function = WEATHER_TOOL["function"]
    tool: Any = {"type": "function", "name": function["name"],
                 "parameters": function["parameters"], "strict": False}
    response = client.responses.create(model=TOOLS[provider], input="Weather in Paris?",
                                       tools=[tool], tool_choice="required")
    calls = [item for item in response.output if item.type == "function_call"]
    assert calls and calls[0].name == "get_weather" and "city" in orjson.loads(calls[0].arguments)
    with client.responses.stream(model=TOOLS[provider], input="Weather in Paris?", tools=[tool],
                                 tool_choice="required") as stream:
        final = stream.get_final_response()
    streamed = [item for item in final.output if item.type == "function_call"]
    assert [(c.name, orjson.loads(c.arguments)) for c in streamed] == \
        [(c.name, orjson.loads(c.arguments)) for c in calls]
    follow_up = client.responses.create(model=TOOLS[provider], tools=[tool], input=[
        {"role": "user", "content": "Weather in Paris?"},
        {"type": "function_call", "call_id": calls[0].call_id, "name": calls[0].name,
         "arguments": calls[0].arguments},
        {"type": "function_call_output", "call_id": calls[0].call_id,
         "output": "18C and sunny"}])
    assert follow_up.output_text


def test_responses_refuse_stored_state(client: openai.OpenAI) -> None:
    with pytest.raises(openai.BadRequestError) as raised:
        client.responses.create(model="mock-gpt", input="hi", previous_response_id="resp_1")
    assert raised.value.code == "not_supported" and raised.value.param == "previous_response_id"


# --- legacy completions ---------------------------------------------------------------------

@pytest.mark.parametrize("provider", PROVIDERS)
def test_legacy_completions_streamed_and_not(client: openai.OpenAI, provider: str) -> None:
    completion = client.completions.create(model=CHAT[provider],
                                           prompt="Say hello to the gateway", max_tokens=200)
    text = completion.choices[0].text
    assert completion.object == "text_completion" and "hello to the gateway" in text.lower()
    assert completion.usage is not None and completion.usage.prompt_tokens > 0
    chunks = list(client.completions.create(model=CHAT[provider],
                                            prompt="Say hello to the gateway", max_tokens=200,
                                            stream=True, stream_options={"include_usage": True}))
    assert "".join(c.choices[0].text for c in chunks if c.choices) == text
    assert [c.usage.completion_tokens for c in chunks if c.usage] == \
        [completion.usage.completion_tokens]
