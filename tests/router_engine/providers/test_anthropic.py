"""The Anthropic adapter: golden files pin each direction of the translation, streams included."""

from __future__ import annotations

from typing import Any

import orjson
import pytest
from openai.types.chat import ChatCompletion, ChatCompletionChunk

from router_engine.deployment import Deployment
from router_engine.providers.anthropic import AnthropicAdapter
from router_engine.providers.base import StreamTranslator
from schemas.config import ProviderConfig
from schemas.errors import (
    ContextLengthExceeded,
    InvalidRequest,
    LLMuxError,
    NotSupported,
    PayloadTooLarge,
    UpstreamAuthError,
    UpstreamError,
    UpstreamProtocolError,
    UpstreamRateLimited,
    UpstreamTimeout,
    UpstreamUnavailable,
)
from schemas.token_usage import TokenUsage
from tests.router_engine.translation.golden import (
    FIXTURES,
    assert_golden_bytes,
    assert_golden_json,
    load_json,
    split_every,
    sse_events,
)

OUTBOUND = FIXTURES / "outbound"


def _adapter(**overrides: Any) -> tuple[AnthropicAdapter, Deployment]:
    fields: dict[str, Any] = {"name": "anthropic", "type": "anthropic", "api_key": "sk-ant-test",
                              "models": ["claude-sonnet"], **overrides}
    config = ProviderConfig(**fields)
    deployment = Deployment(id="anthropic/claude-sonnet", model_group="claude-sonnet",
                            upstream_model="claude-sonnet-4-5-20250929", provider=config)
    return AnthropicAdapter(config), deployment


# --- requests -------------------------------------------------------------------------------

@pytest.mark.parametrize("case", ["request_basic", "request_tools", "request_json_schema_thinking"])
def test_request_translation_matches_golden(case: str) -> None:
    adapter, deployment = _adapter()
    body = load_json(OUTBOUND / f"{case}.openai.json")
    snapshot = orjson.dumps(body)
    request = adapter.build_request(body, deployment, is_streaming=bool(body.get("stream")))
    assert_golden_json(OUTBOUND / f"{case}.anthropic.json", orjson.loads(request.body or b""))
    assert orjson.dumps(body) == snapshot, "the canonical request must not be mutated"


def test_request_goes_to_messages_endpoint_with_anthropic_headers() -> None:
    adapter, deployment = _adapter(headers={"anthropic-beta": "prompt-caching-2024-07-31"},
                                   timeout="30s", stream_stall_timeout="7s", connect_timeout=2)
    body = {"model": "claude-sonnet", "messages": [{"role": "user", "content": "hi"}]}
    plain = adapter.build_request(body, deployment, is_streaming=False)
    streamed = adapter.build_request(body, deployment, is_streaming=True)
    assert plain.method == "POST"
    assert plain.url == "https://api.anthropic.com/v1/messages"
    assert plain.headers["x-api-key"] == "sk-ant-test"
    assert plain.headers["anthropic-version"] == "2023-06-01"
    assert plain.headers["anthropic-beta"] == "prompt-caching-2024-07-31"
    assert (plain.timeout_s, plain.stall_timeout_s, plain.connect_timeout_s) == (30.0, 7.0, 2.0)
    assert not plain.is_streaming and "stream" not in orjson.loads(plain.body or b"")
    assert streamed.is_streaming and orjson.loads(streamed.body or b"")["stream"] is True
    assert streamed.headers["accept"] == "text/event-stream"


@pytest.mark.parametrize("base_url", ["http://127.0.0.1:9/", "http://127.0.0.1:9/v1",
                                      "http://127.0.0.1:9/v1/", "http://127.0.0.1:9"])
def test_base_url_with_or_without_version_path(base_url: str) -> None:
    adapter, deployment = _adapter(base_url=base_url)
    request = adapter.build_request({"messages": [{"role": "user", "content": "x"}]}, deployment,
                                    is_streaming=False)
    assert request.url == "http://127.0.0.1:9/v1/messages"


def test_no_api_key_sends_no_key_header() -> None:
    adapter, deployment = _adapter(api_key=None)
    request = adapter.build_request({"messages": [{"role": "user", "content": "x"}]}, deployment,
                                    is_streaming=False)
    assert "x-api-key" not in request.headers


def test_max_tokens_defaults_and_prefers_max_completion_tokens() -> None:
    adapter, deployment = _adapter()
    messages = [{"role": "user", "content": "x"}]

    def sent(**fields: Any) -> Any:
        request = adapter.build_request({"messages": messages, **fields}, deployment,
                                        is_streaming=False)
        return orjson.loads(request.body or b"")["max_tokens"]

    assert sent() == 4096
    assert sent(max_tokens=10) == 10
    assert sent(max_tokens=10, max_completion_tokens=20) == 20


@pytest.mark.parametrize(("fields", "error", "param"), [
    ({"n": 2}, NotSupported, "n"),
    ({"logprobs": True}, NotSupported, "logprobs"),
    ({"max_tokens": 0}, InvalidRequest, "max_tokens"),
    ({"tool_choice": "sometimes", "tools": [{"type": "function", "function": {"name": "f"}}]},
     InvalidRequest, "tool_choice"),
    ({"tools": [{"type": "web_search"}]}, NotSupported, "tools[0].type"),
])
def test_untranslatable_requests_are_refused(
    fields: dict[str, Any], error: type[LLMuxError], param: str
) -> None:
    adapter, deployment = _adapter()
    body = {"messages": [{"role": "user", "content": "x"}], **fields}
    with pytest.raises(error) as caught:
        adapter.build_request(body, deployment, is_streaming=False)
    assert caught.value.param == param


@pytest.mark.parametrize(("message", "param"), [
    ({"role": "assistant", "tool_calls": [{"id": "t", "function": {"name": "f",
                                                                    "arguments": "{oops"}}]},
     "messages[0].tool_calls[0].function.arguments"),
    ({"role": "tool", "content": "result"}, "messages[0].tool_call_id"),
    ({"role": "user", "content": [{"type": "image_url", "image_url": {"url": "ftp://x/y.png"}}]},
     "messages[0].content[0].image_url.url"),
    ({"role": "user", "content": [{"type": "input_audio", "input_audio": {}}]},
     "messages[0].content[0].type"),
    ({"role": "function", "content": "x"}, "messages[0].role"),
])
def test_malformed_messages_name_the_param(message: dict[str, Any], param: str) -> None:
    adapter, deployment = _adapter()
    with pytest.raises(InvalidRequest) as caught:
        adapter.build_request({"messages": [message]}, deployment, is_streaming=False)
    assert caught.value.param == param


def test_consecutive_same_role_turns_are_merged_and_empty_turns_dropped() -> None:
    adapter, deployment = _adapter()
    body = {"messages": [{"role": "user", "content": "a"}, {"role": "user", "content": ""},
                         {"role": "user", "content": "b"}, {"role": "assistant", "content": ""}]}
    sent = orjson.loads(adapter.build_request(body, deployment, is_streaming=False).body or b"")
    assert sent["messages"] == [{"role": "user", "content": [{"type": "text", "text": "a"},
                                                             {"type": "text", "text": "b"}]}]


# --- responses ------------------------------------------------------------------------------

@pytest.mark.parametrize(("case", "usage", "text"), [
    ("response_text", TokenUsage(prompt_tokens=1050, completion_tokens=9, cached_tokens=1024),
     "The capital of France is Paris."),
    ("response_tool_use", TokenUsage(prompt_tokens=512, completion_tokens=88),
     "I'll check both cities."
     '{"city":"Paris","unit":"celsius"}{"city":"Berlin"}'),
    ("response_thinking", TokenUsage(prompt_tokens=40, completion_tokens=120, reasoning_tokens=100),
     "27 * 453 = 12231" "27 * 453: 27*400=10800, 27*53=1431, total 12231."),
])
def test_response_translation_matches_golden(case: str, usage: TokenUsage, text: str) -> None:
    adapter, deployment = _adapter()
    raw = (OUTBOUND / f"{case}.anthropic.json").read_bytes()
    parsed = adapter.parse_response(raw, deployment)
    body = orjson.loads(parsed.body)
    assert_golden_json(OUTBOUND / f"{case}.openai.json", body)
    ChatCompletion.model_validate(body)  # the official SDK's type accepts it
    assert parsed.usage == usage
    assert parsed.text == text


@pytest.mark.parametrize("raw", [b"not json", b"[1, 2]", b'{"type": "error"}',
                                 b'{"type": "message", "content": "text"}'])
def test_a_body_that_is_not_a_message_is_a_protocol_error(raw: bytes) -> None:
    adapter, deployment = _adapter()
    with pytest.raises(UpstreamProtocolError):
        adapter.parse_response(raw, deployment)


# --- streams --------------------------------------------------------------------------------

STREAM_CASES = [("stream_text", True), ("stream_tool_use", False), ("stream_thinking", True)]


def _translate(translator: StreamTranslator, pieces: list[bytes]) -> bytes:
    frames = [frame for piece in pieces for frame in translator.feed(piece)]
    return b"".join(frames + translator.finish())


@pytest.mark.parametrize(("case", "include_usage"), STREAM_CASES)
def test_stream_translation_matches_golden(case: str, include_usage: bool) -> None:
    adapter, deployment = _adapter()
    raw = (OUTBOUND / f"{case}.anthropic.sse").read_bytes()
    translator = adapter.stream_translator(deployment, forward_usage_chunk=include_usage)
    translated = _translate(translator, [raw])
    assert_golden_bytes(OUTBOUND / f"{case}.openai.sse", translated)
    assert translator.saw_done
    events = sse_events(translated)
    assert events[-1] == (None, "[DONE]")
    for _, chunk in events[:-1]:
        ChatCompletionChunk.model_validate(chunk)
    has_usage_chunk = any(chunk.get("usage") for _, chunk in events[:-1])
    assert has_usage_chunk == include_usage


@pytest.mark.parametrize("size", [1, 7, 64])
@pytest.mark.parametrize(("case", "include_usage"), STREAM_CASES)
def test_stream_translation_does_not_depend_on_how_bytes_are_split(
    case: str, include_usage: bool, size: int
) -> None:
    adapter, deployment = _adapter()
    raw = (OUTBOUND / f"{case}.anthropic.sse").read_bytes().replace(b"\n", b"\r\n")
    translator = adapter.stream_translator(deployment, forward_usage_chunk=include_usage)
    translated = _translate(translator, split_every(raw, size))
    assert translated == (OUTBOUND / f"{case}.openai.sse").read_bytes()


def test_stream_usage_and_text_are_tracked() -> None:
    adapter, deployment = _adapter()
    translator = adapter.stream_translator(deployment, forward_usage_chunk=False)
    raw = (OUTBOUND / "stream_text.anthropic.sse").read_bytes()
    head, tail = raw.split(b"event: message_delta")
    translator.feed(head)
    # Before the final count: exact prompt, completion at least the streamed text (42 chars).
    assert translator.usage == TokenUsage(prompt_tokens=2073, completion_tokens=11,
                                          cached_tokens=2048, is_estimated=True)
    assert not translator.saw_done
    translator.feed(b"event: message_delta" + tail)
    assert translator.usage == TokenUsage(prompt_tokens=2073, completion_tokens=15,
                                          cached_tokens=2048)
    assert translator.text() == "Hello! How can I help you today? Ünïcode ✓"
    assert translator.saw_done


def test_usage_before_any_text_is_anthropics_own() -> None:
    adapter, deployment = _adapter()
    translator = adapter.stream_translator(deployment, forward_usage_chunk=False)
    assert translator.usage is None
    raw = (OUTBOUND / "stream_text.anthropic.sse").read_bytes()
    translator.feed(raw.split(b"event: content_block_delta")[0])
    assert translator.usage == TokenUsage(prompt_tokens=2073, completion_tokens=1,
                                          cached_tokens=2048)


def test_thinking_stream_reports_reasoning_tokens() -> None:
    adapter, deployment = _adapter()
    translator = adapter.stream_translator(deployment, forward_usage_chunk=True)
    translator.feed((OUTBOUND / "stream_thinking.anthropic.sse").read_bytes())
    assert translator.usage == TokenUsage(prompt_tokens=30, completion_tokens=140,
                                          reasoning_tokens=120)


@pytest.mark.parametrize(("kind", "error"), [
    ("overloaded_error", UpstreamUnavailable),
    ("rate_limit_error", UpstreamRateLimited),
    ("api_error", UpstreamError),
])
def test_error_event_mid_stream_is_raised(kind: str, error: type[LLMuxError]) -> None:
    adapter, deployment = _adapter()
    translator = adapter.stream_translator(deployment, forward_usage_chunk=True)
    raw = (OUTBOUND / "stream_text.anthropic.sse").read_bytes()
    head = raw.split(b"event: content_block_stop")[0]
    frames = translator.feed(head)
    assert b"Hello" in b"".join(frames)
    event = orjson.dumps({"type": "error", "error": {"type": kind, "message": "Overloaded"}})
    with pytest.raises(error) as caught:
        translator.feed(b"event: error\ndata: " + event + b"\n\n")
    assert "Overloaded" in caught.value.message
    assert not translator.saw_done


def test_frames_before_an_error_event_in_the_same_piece_are_not_lost() -> None:
    adapter, deployment = _adapter()
    translator = adapter.stream_translator(deployment, forward_usage_chunk=True)
    raw = (OUTBOUND / "stream_text.anthropic.sse").read_bytes()
    head = raw.split(b"event: content_block_stop")[0]
    error = b'event: error\ndata: {"type":"error","error":{"type":"overloaded_error",' \
            b'"message":"Overloaded"}}\n\n'
    frames = translator.feed(head + error)
    assert b"you today?" in b"".join(frames)
    with pytest.raises(UpstreamUnavailable):
        translator.finish()
    assert translator.finish() == []  # raised once


def test_a_stream_event_that_is_not_json_is_a_protocol_error() -> None:
    adapter, deployment = _adapter()
    translator = adapter.stream_translator(deployment, forward_usage_chunk=True)
    with pytest.raises(UpstreamProtocolError):
        translator.feed(b"event: message_start\ndata: {not json\n\n")


def test_a_stream_cut_before_message_stop_is_not_done() -> None:
    adapter, deployment = _adapter()
    translator = adapter.stream_translator(deployment, forward_usage_chunk=True)
    raw = (OUTBOUND / "stream_text.anthropic.sse").read_bytes()
    frames = translator.feed(raw.split(b"event: message_stop")[0]) + translator.finish()
    assert not translator.saw_done
    assert b"[DONE]" not in b"".join(frames)


# --- errors ---------------------------------------------------------------------------------

def _error_body(kind: str, message: str) -> bytes:
    return orjson.dumps({"type": "error", "error": {"type": kind, "message": message},
                         "request_id": "req_011"})


@pytest.mark.parametrize(("status", "body", "error", "status_out"), [
    (429, _error_body("rate_limit_error", "Too many requests"), UpstreamRateLimited, 429),
    (401, _error_body("authentication_error", "invalid x-api-key"), UpstreamAuthError, 401),
    (403, _error_body("permission_error", "no access"), UpstreamAuthError, 401),
    (529, _error_body("overloaded_error", "Overloaded"), UpstreamUnavailable, 503),
    (400, _error_body("invalid_request_error", "prompt is too long: 215000 tokens > 200000 "
                      "maximum"), ContextLengthExceeded, 400),
    (500, _error_body("api_error", "Internal server error"), UpstreamError, 502),
    (504, _error_body("timeout_error", "Request timed out"), UpstreamTimeout, 504),
    (413, _error_body("request_too_large", "Request exceeds the maximum size"), PayloadTooLarge,
     413),
    (404, _error_body("not_found_error", "model: claude-9"), UpstreamError, 502),
    (529, b"<html>overloaded</html>", UpstreamUnavailable, 503),
    (429, b"", UpstreamRateLimited, 429),
    (502, b"bad gateway", UpstreamError, 502),
])
def test_error_replies_map_to_gateway_errors(
    status: int, body: bytes, error: type[LLMuxError], status_out: int
) -> None:
    adapter, _ = _adapter()
    mapped = adapter.parse_error(status, body)
    assert type(mapped) is error
    assert mapped.status == status_out


def test_invalid_request_keeps_the_upstream_message() -> None:
    adapter, _ = _adapter()
    body = _error_body("invalid_request_error", "messages.0.content: Field required")
    mapped = adapter.parse_error(400, body)
    assert type(mapped) is InvalidRequest
    assert mapped.message == "messages.0.content: Field required"
    assert not mapped.retryable
    too_long = adapter.parse_error(400, _error_body("invalid_request_error", "prompt is too long"))
    assert too_long.code == "context_length_exceeded"
