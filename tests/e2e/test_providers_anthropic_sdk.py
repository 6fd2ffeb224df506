"""The official ``anthropic`` SDK against a real gateway's ``/v1/messages``, for every provider.

An Anthropic-SDK client can call any model the gateway serves: its request is translated to
chat, routed, and the reply translated back to Anthropic's message or event stream. Errors on
this route use Anthropic's error envelope, which the SDK maps to its own exception classes.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from typing import Any

import anthropic
import httpx
import pytest

from tests.e2e.surface_gateway import CHAT, MASTER, PROVIDERS, TOOLS, Fakes, surface_gateway
from tests.fakes.fixtures import FakeServer

PROMPT = "Say hello to the gateway"
WEATHER = {"name": "get_weather", "description": "Current weather of a city",
           "input_schema": {"type": "object", "properties": {"city": {"type": "string"}},
                            "required": ["city"]}}
PIXEL = ("iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNkYPhfDwAChwGA60e6kgAAAABJRU5"
         "ErkJggg==")


@pytest.fixture(scope="module")
def surface(tmp_path_factory: pytest.TempPathFactory,
            fake_openai_server: FakeServer) -> Iterator[tuple[str, Fakes]]:
    with surface_gateway(tmp_path_factory.mktemp("surface-anthropic"),
                         fake_openai_server.base_url) as running:
        yield running


@pytest.fixture(scope="module")
def client(surface: tuple[str, Fakes]) -> anthropic.Anthropic:
    return anthropic.Anthropic(base_url=surface[0], api_key=MASTER, max_retries=0)


def _ask(model: str, **extra: Any) -> dict[str, Any]:
    return {"model": model, "max_tokens": 300, "messages": [{"role": "user", "content": PROMPT}],
            **extra}


@pytest.mark.parametrize("provider", PROVIDERS)
def test_messages_streamed_and_not(client: anthropic.Anthropic, provider: str) -> None:
    message = client.messages.create(**_ask(CHAT[provider]))
    assert message.type == "message" and message.model == CHAT[provider]
    assert message.stop_reason == "end_turn"
    text = "".join(block.text for block in message.content if block.type == "text")
    assert "hello to the gateway" in text.lower()
    assert message.usage.input_tokens > 0 and message.usage.output_tokens > 0
    with client.messages.stream(**_ask(CHAT[provider])) as stream:
        streamed = "".join(stream.text_stream)
        final = stream.get_final_message()
    assert streamed == text
    assert final.usage.output_tokens == message.usage.output_tokens


@pytest.mark.parametrize("provider", PROVIDERS)
def test_tools_streamed_and_not(client: anthropic.Anthropic, provider: str) -> None:
    ask = _ask(TOOLS[provider], tools=[WEATHER], tool_choice={"type": "any"})
    message = client.messages.create(**ask)
    uses = [block for block in message.content if block.type == "tool_use"]
    assert message.stop_reason == "tool_use" and uses and uses[0].name == "get_weather"
    assert isinstance(uses[0].input, dict) and "city" in uses[0].input
    with client.messages.stream(**ask) as stream:
        final = stream.get_final_message()
    streamed = [block for block in final.content if block.type == "tool_use"]
    assert [(b.name, b.input) for b in streamed] == [(b.name, b.input) for b in uses]
    follow_up = client.messages.create(**_ask(TOOLS[provider], tools=[WEATHER], messages=[
        {"role": "user", "content": "Weather in Paris?"},
        {"role": "assistant", "content": [block.model_dump() for block in message.content]},
        {"role": "user", "content": [{"type": "tool_result", "tool_use_id": uses[0].id,
                                      "content": "18C and sunny"}]}]))
    assert follow_up.content


@pytest.mark.parametrize("provider", ["mock", "gemini"])
def test_async_client_and_bearer_auth(surface: tuple[str, Fakes], provider: str) -> None:
    async def run() -> str:
        aclient = anthropic.AsyncAnthropic(base_url=surface[0], auth_token=MASTER, max_retries=0)
        async with aclient, aclient.messages.stream(**_ask(CHAT[provider])) as stream:
            return "".join([text async for text in stream.text_stream])

    assert "hello to the gateway" in asyncio.run(run()).lower()


def test_system_prompt_and_images_reach_an_openai_upstream(
        client: anthropic.Anthropic, fake_openai: FakeServer) -> None:
    client.messages.create(model=CHAT["openai"], max_tokens=50, system="Be brief.", messages=[
        {"role": "user", "content": [
            {"type": "image", "source": {"type": "base64", "media_type": "image/png",
                                         "data": PIXEL}},
            {"type": "text", "text": "What is this?"}]}], stop_sequences=["END"])
    sent = [r for r in fake_openai.requests() if r.get("path") == "/v1/chat/completions"][-1]
    body = sent["body"]
    assert body["messages"][0] == {"role": "system", "content": "Be brief."}
    parts = body["messages"][1]["content"]
    assert parts[0]["image_url"]["url"] == f"data:image/png;base64,{PIXEL}"
    assert (body["max_tokens"], body["stop"]) == (50, ["END"])


def test_count_tokens(client: anthropic.Anthropic) -> None:
    short = client.messages.count_tokens(model="mock-gpt",
                                         messages=[{"role": "user", "content": "hi"}])
    long = client.messages.count_tokens(model="mock-gpt",
                                        messages=[{"role": "user", "content": "hi " * 50}])
    assert 0 < short.input_tokens < long.input_tokens


def test_errors_use_anthropics_envelope(client: anthropic.Anthropic,
                                        surface: tuple[str, Fakes]) -> None:
    with pytest.raises(anthropic.NotFoundError) as missing:
        client.messages.create(**_ask("no-such-model"))
    assert missing.value.body == {"type": "error", "error": {
        "type": "not_found_error", "message": missing.value.body["error"]["message"]}}
    with pytest.raises(anthropic.BadRequestError) as invalid:
        client.messages.create(model="mock-gpt", max_tokens=0, messages=[
            {"role": "user", "content": "hi"}])
    assert isinstance(invalid.value.body, dict)
    assert invalid.value.body["error"]["type"] == "invalid_request_error"
    stranger = anthropic.Anthropic(base_url=surface[0], api_key="sk-wrong", max_retries=0)
    with pytest.raises(anthropic.AuthenticationError) as refused:
        stranger.messages.create(**_ask("mock-gpt"))
    assert isinstance(refused.value.body, dict)
    assert refused.value.body["error"]["type"] == "authentication_error"
    openai_route = httpx.post(f"{surface[0]}/v1/chat/completions", json={},
                              headers={"x-api-key": "sk-wrong"})
    assert openai_route.json()["error"]["type"] == "authentication_error"  # OpenAI's shape there
    assert "type" not in openai_route.json()
