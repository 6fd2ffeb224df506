"""The OpenAI adapter against recorded wire fixtures: requests, responses, streams, errors."""

from __future__ import annotations

from pathlib import Path

import orjson
import pytest

from router_engine.deployment import Deployment
from router_engine.providers.openai import OpenAIAdapter
from router_engine.providers.openai_stream import OpenAIStreamTranslator
from schemas.config import ProviderConfig
from schemas.errors import (
    ContentPolicyViolation,
    ContextLengthExceeded,
    InvalidRequest,
    UpstreamAuthError,
    UpstreamError,
    UpstreamProtocolError,
    UpstreamRateLimited,
    UpstreamTimeout,
    UpstreamUnavailable,
)
from schemas.token_usage import TokenUsage

FIXTURES = Path(__file__).parent / "fixtures"
KEY = "sk-test-SECRET-0123456789"


def fixture(name: str) -> bytes:
    return (FIXTURES / name).read_bytes()


def make(type_: str = "openai", **kwargs: object) -> tuple[OpenAIAdapter, Deployment]:
    config = ProviderConfig(name="p1", type=type_, api_key=KEY, models=["gpt-4o"], **kwargs)
    deployment = Deployment(id="p1/gpt-4o", model_group="gpt-4o",
                            upstream_model="gpt-4o-2024-08-06", provider=config)
    return OpenAIAdapter(config), deployment


BODY = {
    "model": "gpt-4o",
    "messages": [{"role": "user", "content": "Hello"}],
    "temperature": 0.2,
    "tools": [{"type": "function", "function": {"name": "f", "parameters": {}}}],
}


def test_request_swaps_model_and_keeps_everything_else() -> None:
    adapter, deployment = make()
    request = adapter.build_request(BODY, deployment, is_streaming=False)
    assert request.method == "POST"
    assert request.url == "https://api.openai.com/v1/chat/completions"
    assert request.headers["Authorization"] == f"Bearer {KEY}"
    assert request.headers["Content-Type"] == "application/json"
    assert orjson.loads(request.body or b"") == {**BODY, "model": "gpt-4o-2024-08-06"}
    assert BODY["model"] == "gpt-4o", "the client body must not be mutated"
    assert request.is_streaming is False


def test_stream_request_asks_for_usage_and_keeps_client_stream_options() -> None:
    adapter, deployment = make()
    body = {**BODY, "stream": True, "stream_options": {"include_obfuscation": False}}
    request = adapter.build_request(body, deployment, is_streaming=True)
    sent = orjson.loads(request.body or b"")
    assert sent["stream"] is True
    assert sent["stream_options"] == {"include_obfuscation": False, "include_usage": True}
    assert "include_usage" not in body["stream_options"]
    assert request.is_streaming is True


def test_non_stream_request_drops_stream_flags() -> None:
    adapter, deployment = make()
    request = adapter.build_request({**BODY, "stream": True, "stream_options": {}}, deployment,
                                    is_streaming=False)
    sent = orjson.loads(request.body or b"")
    assert "stream" not in sent and "stream_options" not in sent


def test_config_base_url_headers_and_timeouts() -> None:
    adapter, deployment = make(base_url="http://127.0.0.1:9/v1/", headers={"OpenAI-Organization":
                               "org-1"}, timeout="7s", stream_stall_timeout="3s",
                               connect_timeout="250ms")
    request = adapter.build_request(BODY, deployment, is_streaming=False)
    assert request.url == "http://127.0.0.1:9/v1/chat/completions"
    assert request.headers["OpenAI-Organization"] == "org-1"
    assert (request.timeout_s, request.stall_timeout_s, request.connect_timeout_s) == (7, 3, 0.25)


@pytest.mark.parametrize(
    ("type_", "url"),
    [("groq", "https://api.groq.com/openai/v1/chat/completions"),
     ("ollama", "http://127.0.0.1:11434/v1/chat/completions"),
     ("deepinfra", "https://api.deepinfra.com/v1/openai/chat/completions")],
)
def test_presets_supply_the_base_url(type_: str, url: str) -> None:
    adapter, deployment = make(type_)
    assert adapter.build_request(BODY, deployment, is_streaming=False).url == url


def test_no_key_sends_no_authorization() -> None:
    config = ProviderConfig(name="local", type="vllm", models=["m"])
    deployment = Deployment(id="local/m", model_group="m", upstream_model="m", provider=config)
    request = OpenAIAdapter(config).build_request(BODY, deployment, is_streaming=False)
    assert "Authorization" not in request.headers


def test_response_passes_through_with_usage() -> None:
    adapter, deployment = make()
    raw = fixture("openai_chat_response.json")
    parsed = adapter.parse_response(raw, deployment)
    assert parsed.body is raw
    assert parsed.usage == TokenUsage(prompt_tokens=19, completion_tokens=10)


def test_response_reads_cached_and_reasoning_tokens() -> None:
    adapter, deployment = make()
    parsed = adapter.parse_response(fixture("openai_reasoning_response.json"), deployment)
    assert parsed.usage == TokenUsage(prompt_tokens=1200, completion_tokens=530,
                                      cached_tokens=1024, reasoning_tokens=512)


def test_response_without_usage_keeps_text_for_counting() -> None:
    adapter, deployment = make()
    doc = orjson.loads(fixture("openai_chat_response.json"))
    del doc["usage"]
    parsed = adapter.parse_response(orjson.dumps(doc), deployment)
    assert parsed.usage is None
    assert parsed.text == "Hello! How can I assist you today?"


def test_non_json_response_is_a_protocol_error() -> None:
    adapter, deployment = make()
    with pytest.raises(UpstreamProtocolError):
        adapter.parse_response(b"<html>bad gateway</html>", deployment)


def split_frames(raw: bytes) -> list[bytes]:
    return [part + b"\n\n" for part in raw.split(b"\n\n") if part]


def feed_all(translator: OpenAIStreamTranslator, pieces: list[bytes]) -> list[bytes]:
    out: list[bytes] = []
    for piece in pieces:
        out.extend(translator.feed(piece))
    return out


def stream_translator(forward: bool) -> OpenAIStreamTranslator:
    adapter, deployment = make()
    translator = adapter.stream_translator(deployment, forward_usage_chunk=forward)
    assert isinstance(translator, OpenAIStreamTranslator)
    return translator


def test_stream_frames_forwarded_unchanged_with_usage_when_asked() -> None:
    raw = fixture("openai_chat_stream.sse")
    translator = stream_translator(forward=True)
    assert feed_all(translator, [raw]) == split_frames(raw)
    assert translator.usage == TokenUsage(prompt_tokens=19, completion_tokens=10)
    assert translator.saw_done
    assert translator.text() == 'Hello! How can I "usage" help you today?'


def test_stream_usage_chunk_hidden_when_client_did_not_ask() -> None:
    raw = fixture("openai_chat_stream.sse")
    translator = stream_translator(forward=False)
    frames = feed_all(translator, [raw])
    expected = [f for f in split_frames(raw) if b'"choices":[]' not in f]
    assert frames == expected and len(frames) == len(split_frames(raw)) - 1
    assert frames[-1] == b"data: [DONE]\n\n"
    assert translator.usage == TokenUsage(prompt_tokens=19, completion_tokens=10)


@pytest.mark.parametrize("size", [1, 2, 3, 7, 64, 500])
def test_stream_reassembles_events_split_anywhere(size: int) -> None:
    raw = fixture("openai_chat_stream.sse")
    translator = stream_translator(forward=True)
    pieces = [raw[i:i + size] for i in range(0, len(raw), size)]
    assert b"".join(feed_all(translator, pieces)) == raw
    assert translator.saw_done and translator.usage is not None


def test_stream_with_crlf_separators() -> None:
    raw = fixture("openai_chat_stream.sse").replace(b"\n\n", b"\r\n\r\n")
    translator = stream_translator(forward=True)
    pieces = [raw[i:i + 5] for i in range(0, len(raw), 5)]
    frames = feed_all(translator, pieces)
    assert b"".join(frames) == raw
    assert len(frames) == 8
    assert translator.saw_done and translator.usage == TokenUsage(prompt_tokens=19,
                                                                  completion_tokens=10)


def test_stream_without_usage_collects_tool_call_text() -> None:
    raw = fixture("openai_tool_stream_no_usage.sse")
    translator = stream_translator(forward=False)
    assert feed_all(translator, [raw]) == split_frames(raw)
    assert translator.usage is None
    assert translator.text() == 'get_weather{"location":"Paris"}'


def test_incomplete_event_is_held_back() -> None:
    translator = stream_translator(forward=True)
    assert translator.feed(b'data: {"choices":[{"delta":{"content":"a"}}]}\n') == []
    assert translator.feed(b"\n: keep-alive\n\n") == [
        b'data: {"choices":[{"delta":{"content":"a"}}]}\n\n', b": keep-alive\n\n"]
    assert not translator.saw_done


def test_error_event_mid_stream_raises_without_the_key() -> None:
    translator = stream_translator(forward=True)
    error = {"error": {"message": f"boom for key {KEY}", "type": "server_error"}}
    with pytest.raises(UpstreamError) as caught:
        translator.feed(b"data: " + orjson.dumps(error) + b"\n\n")
    assert "boom" in caught.value.message and KEY not in caught.value.message


def test_malformed_usage_chunk_is_a_protocol_error() -> None:
    translator = stream_translator(forward=True)
    with pytest.raises(UpstreamProtocolError):
        translator.feed(b'data: {"choices":[],"usage":{"prompt_tokens":1\n\n')


@pytest.mark.parametrize(
    ("status", "name", "kind"),
    [
        (429, "openai_error_429.json", UpstreamRateLimited),
        (401, "openai_error_401.json", UpstreamAuthError),
        (403, "openai_error_401.json", UpstreamAuthError),
        (400, "openai_error_context.json", ContextLengthExceeded),
        (400, "openai_error_content_policy.json", ContentPolicyViolation),
        (500, "openai_error_500.json", UpstreamError),
        (503, "openai_error_500.json", UpstreamUnavailable),
        (504, "openai_error_500.json", UpstreamTimeout),
    ],
)
def test_error_mapping(status: int, name: str, kind: type[Exception]) -> None:
    adapter, _ = make()
    error = adapter.parse_error(status, fixture(name))
    assert type(error) is kind
    assert KEY not in error.message


def test_other_4xx_carries_the_upstream_message_and_param() -> None:
    adapter, _ = make()
    error = adapter.parse_error(400, fixture("openai_error_400.json"))
    assert type(error) is InvalidRequest and not error.retryable
    assert error.message == "Invalid value for 'temperature': expected a number between 0 and 2."
    assert error.param == "temperature" and error.code == "invalid_value"


def test_retryability_of_mapped_errors() -> None:
    adapter, _ = make()
    assert adapter.parse_error(500, fixture("openai_error_500.json")).retryable
    assert adapter.parse_error(429, fixture("openai_error_429.json")).retryable
    assert not adapter.parse_error(400, fixture("openai_error_context.json")).retryable


def test_key_is_scrubbed_from_any_upstream_message() -> None:
    adapter, _ = make()
    error = adapter.parse_error(400, orjson.dumps({"error": {"message": f"bad {KEY} here"}}))
    assert error.message == "bad *** here"
    error = adapter.parse_error(502, f"<html>proxy error {KEY}</html>".encode())
    assert KEY not in error.message and "proxy error" in error.message


def test_frames_before_an_error_in_the_same_chunk_are_delivered_first() -> None:
    translator = stream_translator(forward=True)
    content = b'data: {"choices":[{"index":0,"delta":{"content":"partial"}}]}\n\n'
    error = b'data: {"error": {"message": "overloaded", "type": "server_error"}}\n\n'
    assert translator.feed(content + error) == [content]
    with pytest.raises(UpstreamError) as caught:
        translator.finish()
    assert "overloaded" in caught.value.message
    assert translator.text() == "partial"
