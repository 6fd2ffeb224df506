"""Embeddings and legacy completions per provider, through ``providers.operations``.

OpenAI-format upstreams get the body passed through to their own endpoint; Gemini embeds with
``batchEmbedContents``; providers without a completions API serve it through chat. Usage is
always set: the upstream's numbers, or a local count flagged as estimated.
"""

from __future__ import annotations

import base64
import struct
from pathlib import Path
from typing import Any

import orjson
import pytest

from router_engine import MockTransport, Router
from router_engine.deployment import Deployment
from router_engine.providers import build_adapter, mock_transport
from router_engine.providers import operations as ops
from router_engine.providers.mock_operations import DEFAULT_DIMENSIONS, sample_arguments
from router_engine.tokens import count_text_tokens
from schemas.config import LLMuxConfig, ProviderConfig
from schemas.errors import InvalidRequest, NotSupported, UpstreamConnectError
from schemas.token_usage import TokenUsage
from tests.router_engine.translation.golden import sse_events

FIXTURES_ANTHROPIC = Path(__file__).resolve().parents[2] / "fixtures" / "anthropic" / "outbound"


def _setup(kind: str, model: str = "m1", **fields: Any) -> tuple[Any, Deployment]:
    config = ProviderConfig(name=f"p-{kind}", type=kind, api_key="sk-secret",
                            models=[model], **fields)
    return build_adapter(config), Deployment(id=f"p-{kind}/{model}", model_group=model,
                                             upstream_model=model, provider=config)


# --- embeddings -----------------------------------------------------------------------------

@pytest.mark.parametrize(("kind", "base_url", "url"), [
    ("openai", "http://up/v1", "http://up/v1/embeddings"),
    ("vllm", "http://vllm:8000/v1", "http://vllm:8000/v1/embeddings"),
    ("azure", "https://r.openai.azure.com", "https://r.openai.azure.com/openai/deployments/m1/"
     "embeddings?api-version=2024-10-21"),
])
def test_openai_format_embeddings_pass_through(kind: str, base_url: str, url: str) -> None:
    adapter, deployment = _setup(kind, base_url=base_url)
    body = {"model": "public", "input": ["a", "b"], "dimensions": 8}
    request = ops.build_request(adapter, "embeddings", body, deployment, is_streaming=False)
    assert request.url == url
    assert orjson.loads(request.body or b"") == {**body, "model": "m1"}
    reply = orjson.dumps({"object": "list", "data": [], "model": "m1",
                          "usage": {"prompt_tokens": 5, "total_tokens": 5}})
    parsed = ops.parse_response(adapter, "embeddings", reply, deployment, body)
    assert parsed.body == reply and parsed.usage == TokenUsage(prompt_tokens=5)


def test_embeddings_without_upstream_usage_are_counted_locally() -> None:
    adapter, deployment = _setup("vllm", base_url="http://vllm/v1", model="gpt-4o")
    body = {"model": "x", "input": ["hello world", [1, 2, 3]]}
    reply = orjson.dumps({"object": "list", "data": [{"embedding": [0.1], "index": 0}]})
    parsed = ops.parse_response(adapter, "embeddings", reply, deployment, body)
    assert parsed.usage == TokenUsage(
        prompt_tokens=count_text_tokens("hello world", "gpt-4o") + 3, is_estimated=True)


def test_gemini_embeds_in_one_batch_and_answers_like_openai() -> None:
    adapter, deployment = _setup("gemini", model="gemini-embedding-001")
    body = {"model": "emb", "input": ["one", "two"], "dimensions": 3,
            "encoding_format": "base64"}
    request = ops.build_request(adapter, "embeddings", body, deployment, is_streaming=False)
    assert request.url.endswith("/models/gemini-embedding-001:batchEmbedContents")
    assert request.headers["x-goog-api-key"] == "sk-secret"
    sent = orjson.loads(request.body or b"")
    assert sent == {"requests": [
        {"model": "models/gemini-embedding-001", "content": {"parts": [{"text": text}]},
         "outputDimensionality": 3} for text in ("one", "two")]}
    reply = orjson.dumps({"embeddings": [{"values": [0.5, -1.0, 0.25]}, {"values": [1, 0, 0]}]})
    parsed = ops.parse_response(adapter, "embeddings", reply, deployment, body)
    doc = orjson.loads(parsed.body)
    assert [item["index"] for item in doc["data"]] == [0, 1]
    first = struct.unpack("<3f", base64.b64decode(doc["data"][0]["embedding"]))
    assert first == (0.5, -1.0, 0.25)
    assert parsed.usage is not None and parsed.usage.is_estimated
    assert doc["usage"]["prompt_tokens"] == parsed.usage.prompt_tokens > 0


def test_gemini_refuses_token_inputs_and_anthropic_has_no_embeddings() -> None:
    adapter, deployment = _setup("gemini")
    with pytest.raises(NotSupported) as raised:
        ops.build_request(adapter, "embeddings", {"input": [1, 2]}, deployment,
                          is_streaming=False)
    assert raised.value.param == "input"
    adapter, deployment = _setup("anthropic")
    with pytest.raises(NotSupported, match="does not serve embeddings"):
        ops.build_request(adapter, "embeddings", {"input": "x"}, deployment,
                          is_streaming=False)
    with pytest.raises(InvalidRequest):
        ops.build_request(adapter, "embeddings", {"input": "x"}, deployment,
                          is_streaming=True)


async def test_mock_embeddings_are_deterministic_unit_vectors() -> None:
    adapter, deployment = _setup("mock", model="mock-embed")
    transport = mock_transport(deployment.provider)
    body = {"model": "mock-embed", "input": ["same", "other", "same"]}
    request = ops.build_request(adapter, "embeddings", body, deployment, is_streaming=False)
    raw = await (await transport.send(request)).read()
    parsed = ops.parse_response(adapter, "embeddings", raw, deployment, body)
    vectors = [item["embedding"] for item in orjson.loads(parsed.body)["data"]]
    assert vectors[0] == vectors[2] != vectors[1]
    assert len(vectors[0]) == DEFAULT_DIMENSIONS
    assert abs(sum(v * v for v in vectors[1]) - 1.0) < 1e-4
    assert parsed.usage is not None and not parsed.usage.is_estimated
    assert parsed.usage.prompt_tokens == 3 * count_text_tokens("same", "mock-embed") - \
        count_text_tokens("same", "mock-embed") + count_text_tokens("other", "mock-embed")


# --- legacy completions ---------------------------------------------------------------------

def test_openai_completions_are_native_and_ask_for_stream_usage() -> None:
    adapter, deployment = _setup("openai", base_url="http://up/v1")
    body = {"model": "public", "prompt": "Once", "max_tokens": 5, "stream": True}
    request = ops.build_request(adapter, "completions", body, deployment, is_streaming=True)
    assert request.url == "http://up/v1/completions"
    sent = orjson.loads(request.body or b"")
    assert sent["stream_options"] == {"include_usage": True} and sent["prompt"] == "Once"


def test_native_completion_stream_counts_text_when_the_upstream_reports_no_usage() -> None:
    adapter, deployment = _setup("vllm", base_url="http://vllm/v1", model="gpt-4o")
    body = {"model": "x", "prompt": "Once upon"}
    translator = ops.stream_translator(adapter, "completions", deployment, body,
                                       forward_usage_chunk=False)
    chunk = {"id": "cmpl-1", "object": "text_completion",
             "choices": [{"text": " a time", "index": 0, "finish_reason": None}]}
    frames = translator.feed(b"data: " + orjson.dumps(chunk) + b"\n\ndata: [DONE]\n\n")
    assert len(frames) == 2 and translator.saw_done and translator.text() == " a time"
    assert translator.usage == TokenUsage(
        prompt_tokens=count_text_tokens("Once upon", "gpt-4o"),
        completion_tokens=count_text_tokens(" a time", "gpt-4o"), is_estimated=True)
    usage = {"prompt_tokens": 2, "completion_tokens": 3, "total_tokens": 5}
    translator.feed(b"data: " + orjson.dumps({"choices": [], "usage": usage}) + b"\n\n")
    assert translator.usage == TokenUsage(prompt_tokens=2, completion_tokens=3)


def test_completions_through_chat_on_anthropic() -> None:
    adapter, deployment = _setup("anthropic", base_url="http://anthropic")
    body = {"model": "claude", "prompt": ["Write a haiku"], "max_tokens": 30, "stop": "\n\n"}
    request = ops.build_request(adapter, "completions", body, deployment, is_streaming=False)
    sent = orjson.loads(request.body or b"")
    assert request.url == "http://anthropic/v1/messages"
    assert sent["messages"] == [{"role": "user", "content": [{"type": "text",
                                                               "text": "Write a haiku"}]}]
    assert (sent["max_tokens"], sent["stop_sequences"]) == (30, ["\n\n"])
    reply = (FIXTURES_ANTHROPIC / "response_text.anthropic.json").read_bytes()
    parsed = ops.parse_response(adapter, "completions", reply, deployment, body)
    doc = orjson.loads(parsed.body)
    assert doc["object"] == "text_completion" and doc["id"].startswith("cmpl-")
    assert doc["choices"][0]["text"] == parsed.text != ""
    assert parsed.usage is not None and parsed.usage.prompt_tokens > 0


def test_completion_stream_through_chat_on_anthropic() -> None:
    adapter, deployment = _setup("anthropic")
    body = {"model": "claude", "prompt": "Hi", "stream": True,
            "stream_options": {"include_usage": True}}
    translator = ops.stream_translator(adapter, "completions", deployment, body,
                                       forward_usage_chunk=True)
    source = (FIXTURES_ANTHROPIC / "stream_text.anthropic.sse").read_bytes()
    frames = [f for start in range(0, len(source), 11)
              for f in translator.feed(source[start:start + 11])] + translator.finish()
    events = [data for _, data in sse_events(b"".join(frames))]
    assert events[-1] == "[DONE]" and translator.saw_done
    chunks = events[:-1]
    assert all(chunk["object"] == "text_completion" for chunk in chunks)
    text = "".join(c["choices"][0]["text"] for c in chunks if c["choices"])
    assert text and text == translator.text()
    assert chunks[-1]["choices"] == [] and chunks[-1]["usage"]["completion_tokens"] > 0
    assert translator.usage is not None and not translator.usage.is_estimated


@pytest.mark.parametrize(("changes", "param"), [
    ({"prompt": ["a", "b"]}, "prompt"), ({"prompt": [1, 2]}, "prompt"),
    ({"suffix": "x"}, "suffix"), ({"echo": True}, "echo"), ({"logprobs": 2}, "logprobs"),
    ({"best_of": 2}, "best_of"),
])
def test_completions_through_chat_refuse_what_chat_cannot_do(changes: dict[str, Any],
                                                             param: str) -> None:
    adapter, deployment = _setup("gemini")
    with pytest.raises(NotSupported) as raised:
        ops.build_request(adapter, "completions", {"model": "g", "prompt": "x", **changes},
                          deployment, is_streaming=False)
    assert raised.value.param == param


async def test_mock_completions_and_stream() -> None:
    adapter, deployment = _setup("mock", model="mock-gpt")
    transport = mock_transport(deployment.provider)
    body = {"model": "mock-gpt", "prompt": "Tell me"}
    request = ops.build_request(adapter, "completions", body, deployment, is_streaming=False)
    raw = await (await transport.send(request)).read()
    parsed = ops.parse_response(adapter, "completions", raw, deployment, body)
    doc = orjson.loads(parsed.body)
    assert doc["choices"][0]["text"] == "This is a mock response to: Tell me"
    request = ops.build_request(adapter, "completions", {**body, "stream": True}, deployment,
                                is_streaming=True)
    translator = ops.stream_translator(adapter, "completions", deployment, body,
                                       forward_usage_chunk=False)
    response = await transport.send(request)
    frames = [f async for chunk in response.iter_chunks() for f in translator.feed(chunk)]
    assert translator.text() == doc["choices"][0]["text"] and translator.saw_done
    assert translator.usage == parsed.usage  # the same usage, streamed or not
    assert all(b'"usage":{' not in frame for frame in frames)  # the client did not ask for it


# --- the mock's tool calls ------------------------------------------------------------------

_TOOLS = [{"type": "function", "function": {"name": "get_weather", "parameters": {
    "type": "object", "properties": {"city": {"type": "string"},
                                     "unit": {"enum": ["celsius", "fahrenheit"]}},
    "required": ["city", "unit"]}}}]


@pytest.mark.parametrize("tool_choice", ["required", {"type": "function",
                                                      "function": {"name": "get_weather"}}])
async def test_mock_calls_a_forced_tool_streamed_or_not(tool_choice: Any) -> None:
    adapter, deployment = _setup("mock", model="mock-gpt")
    transport = mock_transport(deployment.provider)
    body = {"model": "mock-gpt", "messages": [{"role": "user", "content": "Weather?"}],
            "tools": _TOOLS, "tool_choice": tool_choice}
    raw = await (await transport.send(adapter.build_request(body, deployment,
                                                            is_streaming=False))).read()
    choice = orjson.loads(raw)["choices"][0]
    assert choice["finish_reason"] == "tool_calls"
    call = choice["message"]["tool_calls"][0]
    assert orjson.loads(call["function"]["arguments"]) == {"city": "mock", "unit": "celsius"}
    response = await transport.send(adapter.build_request(body, deployment, is_streaming=True))
    translator = adapter.stream_translator(deployment, forward_usage_chunk=False)
    frames = [f async for chunk in response.iter_chunks() for f in translator.feed(chunk)]
    deltas = [d["choices"][0]["delta"] for _, d in sse_events(b"".join(frames))
              if isinstance(d, dict) and d["choices"]]
    streamed = "".join(c["function"].get("arguments", "") for d in deltas
                       for c in d.get("tool_calls", []))
    assert streamed == call["function"]["arguments"]
    assert deltas[1]["tool_calls"][0]["id"].startswith("call_mock")


async def test_mock_answers_a_tool_result_with_text() -> None:
    adapter, deployment = _setup("mock", model="mock-gpt")
    body = {"model": "mock-gpt", "tools": _TOOLS, "tool_choice": "required", "messages": [
        {"role": "user", "content": "Weather?"},
        {"role": "assistant", "content": None, "tool_calls": [
            {"id": "c1", "type": "function",
             "function": {"name": "get_weather", "arguments": "{}"}}]},
        {"role": "tool", "tool_call_id": "c1", "content": "sunny"}]}
    raw = await (await mock_transport(deployment.provider).send(
        adapter.build_request(body, deployment, is_streaming=False))).read()
    assert orjson.loads(raw)["choices"][0]["finish_reason"] == "stop"


def test_sample_arguments_fill_required_properties() -> None:
    schema = {"type": "object", "required": ["n", "flag", "inner"], "properties": {
        "n": {"type": "integer"}, "flag": {"type": "boolean"}, "skip": {"type": "string"},
        "inner": {"type": "object", "required": ["x"], "properties": {"x": {"type": "number"}}}}}
    assert sample_arguments(schema) == {"n": 1, "flag": True, "inner": {"x": 1.0}}


# --- through the router -----------------------------------------------------------------------

async def test_a_request_the_adapter_refuses_is_no_failure_of_the_deployment() -> None:
    async def unreachable(request: Any) -> Any:
        raise UpstreamConnectError("never called")

    config = LLMuxConfig(providers=[ProviderConfig(name="an", type="anthropic", api_key="k",
                                                   models=["claude"])])
    router = Router(config, transport=MockTransport(unreachable))
    for _ in range(3):
        with pytest.raises(NotSupported):
            await router.complete({"model": "claude", "input": "x"}, model="claude",
                                  operation="embeddings")
    stats = router.health.snapshot().get("an/claude")
    assert (stats.failures, stats.in_flight, stats.cooldown) == (0, 0, None)
