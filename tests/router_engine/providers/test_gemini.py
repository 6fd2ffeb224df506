"""The Gemini adapter against recorded Gemini wire fixtures (``tests/fixtures/gemini``).

Golden files pin both directions: OpenAI requests → Gemini bodies, Gemini responses and SSE
streams → OpenAI JSON and chunk frames, Gemini error envelopes → gateway errors. Every translated
body is also validated with the official ``openai`` types. ``UPDATE_GOLDEN=1`` rewrites the
expected files after a deliberate change.
"""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import orjson
import pytest
from openai.types.chat import ChatCompletion, ChatCompletionChunk

from router_engine.deployment import Deployment
from router_engine.providers.gemini import GeminiAdapter
from router_engine.translation.gemini_request import THOUGHT_SIGNATURE_BYPASS
from schemas.config import ProviderConfig
from schemas.errors import (
    ContextLengthExceeded,
    InvalidRequest,
    LLMuxError,
    NotSupported,
    UpstreamAuthError,
    UpstreamError,
    UpstreamProtocolError,
    UpstreamRateLimited,
    UpstreamTimeout,
    UpstreamUnavailable,
)
from schemas.token_usage import TokenUsage
from tests.router_engine.translation.golden import (
    assert_golden_bytes,
    assert_golden_json,
    load_json,
    split_every,
)

FIXTURES = Path(__file__).resolve().parents[2] / "fixtures" / "gemini"
KEY = "AIzaSy-test-SECRET-0123456789"


def make(model: str = "gemini-2.5-flash", **kwargs: Any) -> tuple[GeminiAdapter, Deployment]:
    config = ProviderConfig(name="g1", type="gemini", api_key=KEY, models=["gemini-flash"],
                            **kwargs)
    deployment = Deployment(id="g1/gemini-flash", model_group="gemini-flash",
                            upstream_model=model, provider=config)
    return GeminiAdapter(config), deployment


def gemini_body(body: dict[str, Any], *, is_streaming: bool = False) -> dict[str, Any]:
    adapter, deployment = make()
    request = adapter.build_request(body, deployment, is_streaming=is_streaming)
    return dict(orjson.loads(request.body or b""))


def translate_stream(raw: bytes, *, forward_usage: bool, piece: int | None = None) -> bytes:
    adapter, deployment = make()
    translator = adapter.stream_translator(deployment, forward_usage_chunk=forward_usage)
    pieces = split_every(raw, piece) if piece else [raw]
    frames = [frame for data in pieces for frame in translator.feed(data)]
    return b"".join(frames + translator.finish())


# --- requests ------------------------------------------------------------------------------


@pytest.mark.parametrize("case", ["basic", "tools", "multimodal"])
def test_request_translation_matches_golden(case: str) -> None:
    body = load_json(FIXTURES / f"request_{case}.openai.json")
    untouched = copy.deepcopy(body)
    assert_golden_json(FIXTURES / f"request_{case}.gemini.json", gemini_body(body))
    assert body == untouched, "the client's body must not be mutated"


def test_request_urls_and_key_header() -> None:
    adapter, deployment = make(model="models/gemini-2.5-flash", headers={"x-team": "blue"},
                               timeout="30s", stream_stall_timeout="7s", connect_timeout="2s")
    body = {"model": "gemini-flash", "messages": [{"role": "user", "content": "Hi"}]}
    whole = adapter.build_request(body, deployment, is_streaming=False)
    stream = adapter.build_request(body, deployment, is_streaming=True)
    base = "https://generativelanguage.googleapis.com/v1beta/models/gemini-2.5-flash"
    assert whole.url == f"{base}:generateContent"
    assert stream.url == f"{base}:streamGenerateContent?alt=sse"
    assert (whole.is_streaming, stream.is_streaming) == (False, True)
    assert whole.headers["x-goog-api-key"] == KEY
    assert whole.headers["x-team"] == "blue"
    assert KEY not in whole.url and KEY not in stream.url, "the key must never be in a URL"
    assert (whole.timeout_s, whole.stall_timeout_s, whole.connect_timeout_s) == (30.0, 7.0, 2.0)
    assert whole.body == stream.body, "Gemini needs no stream flag in the body"


def test_base_url_override() -> None:
    adapter, deployment = make(base_url="http://127.0.0.1:9/proxy/v1beta/")
    request = adapter.build_request({"messages": [{"role": "user", "content": "Hi"}]},
                                    deployment, is_streaming=False)
    assert request.url == "http://127.0.0.1:9/proxy/v1beta/models/gemini-2.5-flash:generateContent"


def test_tool_history_becomes_signed_calls_and_one_response_turn() -> None:
    body = gemini_body(load_json(FIXTURES / "request_tools.openai.json"))
    model_turn, responses_turn = body["contents"][1], body["contents"][2]
    assert model_turn["role"] == "model"
    calls = [part for part in model_turn["parts"] if "functionCall" in part]
    assert [c["functionCall"]["args"] for c in calls] == [
        {"city": "Paris"}, {"city": "Rome", "unit": "celsius"}]
    assert calls[0]["thoughtSignature"] == THOUGHT_SIGNATURE_BYPASS
    assert "thoughtSignature" not in calls[1], "only the first call of a turn is signed"
    # Both tool messages answer one model turn, so they share one user content, in order.
    assert responses_turn["role"] == "user"
    assert [p["functionResponse"] for p in responses_turn["parts"][:2]] == [
        {"name": "get_weather", "response": {"temperature": 18, "sky": "cloudy"}},
        {"name": "get_weather", "response": {"output": "sunny, 24 degrees"}},
    ]
    assert body["toolConfig"] == {"functionCallingConfig": {
        "mode": "ANY", "allowedFunctionNames": ["get_weather"]}}
    assert body["generationConfig"]["maxOutputTokens"] == 512, "max_completion_tokens wins"


def test_generation_config_fields() -> None:
    config = gemini_body(load_json(FIXTURES / "request_basic.openai.json"))["generationConfig"]
    assert config == {"temperature": 0.3, "topP": 0.9, "candidateCount": 2, "seed": 42,
                      "presencePenalty": 0.1, "maxOutputTokens": 256, "stopSequences": ["END"],
                      "responseLogprobs": True, "logprobs": 2,
                      "thinkingConfig": {"thinkingBudget": 1024}}


@pytest.mark.parametrize(
    ("messages", "error", "param"),
    [
        ([{"role": "tool", "tool_call_id": "call_x", "content": "1"}], InvalidRequest,
         "messages[0].tool_call_id"),
        ([{"role": "assistant", "tool_calls": [{"id": "a", "type": "function", "function": {
            "name": "f", "arguments": "{not json"}}]}], InvalidRequest,
         "messages[0].tool_calls[0].function.arguments"),
        ([{"role": "user", "content": [{"type": "image_url", "image_url": {
            "url": "data:image/png,raw"}}]}], InvalidRequest,
         "messages[0].content[0].image_url.url"),
        ([{"role": "user", "content": [{"type": "video", "video": {}}]}], NotSupported,
         "messages[0].content[0]"),
        ([{"role": "function", "content": "x"}], InvalidRequest, "messages[0].role"),
    ],
)
def test_unreadable_requests_are_refused(
    messages: list[dict[str, Any]], error: type[LLMuxError], param: str
) -> None:
    with pytest.raises(error) as caught:
        gemini_body({"model": "m", "messages": messages})
    assert type(caught.value) is error
    assert caught.value.param == param


def test_tools_without_a_name_are_refused() -> None:
    with pytest.raises(InvalidRequest) as caught:
        gemini_body({"messages": [{"role": "user", "content": "x"}],
                     "tools": [{"type": "function", "function": {"parameters": {}}}]})
    assert caught.value.param == "tools[0].function.name"


def test_non_function_tools_are_refused() -> None:
    with pytest.raises(NotSupported):
        gemini_body({"messages": [{"role": "user", "content": "x"}],
                     "tools": [{"type": "web_search_preview"}]})


# --- responses -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    "case", ["text", "tool_calls", "max_tokens", "blocked", "candidates", "logprobs"])
def test_response_translation_matches_golden(case: str) -> None:
    adapter, deployment = make()
    parsed = adapter.parse_response((FIXTURES / f"response_{case}.gemini.json").read_bytes(),
                                    deployment)
    completion = orjson.loads(parsed.body)
    ChatCompletion.model_validate(completion)
    assert_golden_json(FIXTURES / f"response_{case}.openai.json", completion)


def test_response_usage_counts_thoughts_as_completion_and_keeps_cache() -> None:
    adapter, deployment = make()
    parsed = adapter.parse_response((FIXTURES / "response_text.gemini.json").read_bytes(),
                                    deployment)
    assert parsed.usage == TokenUsage(prompt_tokens=31, completion_tokens=46, cached_tokens=16,
                                      reasoning_tokens=40)
    assert parsed.usage.total_tokens == 77, "the same total Gemini reports"
    assert parsed.text == "Orange, green and purple."


@pytest.mark.parametrize(
    ("case", "finish"),
    [("text", "stop"), ("tool_calls", "tool_calls"), ("max_tokens", "length"),
     ("blocked", "content_filter")],
)
def test_finish_reasons(case: str, finish: str) -> None:
    adapter, deployment = make()
    parsed = adapter.parse_response((FIXTURES / f"response_{case}.gemini.json").read_bytes(),
                                    deployment)
    assert orjson.loads(parsed.body)["choices"][0]["finish_reason"] == finish


def test_response_without_usage_still_gives_text_for_counting() -> None:
    adapter, deployment = make()
    body = {"candidates": [{"content": {"parts": [{"text": "Hi"}, {"functionCall": {
        "name": "f", "args": {"a": 1}}}], "role": "model"}, "finishReason": "STOP"}]}
    parsed = adapter.parse_response(orjson.dumps(body), deployment)
    assert parsed.usage is None
    assert parsed.text == 'Hi{"a":1}'
    completion = ChatCompletion.model_validate_json(parsed.body)
    assert completion.model == "gemini-2.5-flash", "the deployment's model when Gemini names none"
    assert completion.id.startswith("chatcmpl-")


@pytest.mark.parametrize("body", [b"<html>oops</html>", b"[1, 2]"])
def test_unreadable_response_is_a_protocol_error(body: bytes) -> None:
    adapter, deployment = make()
    with pytest.raises(UpstreamProtocolError):
        adapter.parse_response(body, deployment)


# --- streams -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("case", "forward_usage"),
    [("text", True), ("text", False), ("tool_calls", True), ("blocked", False)],
)
def test_stream_translation_matches_golden(case: str, forward_usage: bool) -> None:
    raw = (FIXTURES / f"stream_{case}.gemini.sse").read_bytes()
    translated = translate_stream(raw, forward_usage=forward_usage)
    suffix = ".usage" if forward_usage else ""
    assert_golden_bytes(FIXTURES / f"stream_{case}{suffix}.openai.sse", translated)
    frames = translated.split(b"\n\n")
    assert frames[-2:] == [b"data: [DONE]", b""]
    for frame in frames[:-2]:
        ChatCompletionChunk.model_validate_json(frame.removeprefix(b"data: "))
    assert (b'"choices":[],"usage"' in translated) is forward_usage


@pytest.mark.parametrize("piece", [1, 7, 64])
def test_stream_split_anywhere_gives_the_same_frames(piece: int) -> None:
    raw = (FIXTURES / "stream_tool_calls.gemini.sse").read_bytes()
    assert translate_stream(raw, forward_usage=True, piece=piece) == translate_stream(
        raw, forward_usage=True)


def test_stream_usage_and_text() -> None:
    adapter, deployment = make()
    translator = adapter.stream_translator(deployment, forward_usage_chunk=False)
    translator.feed((FIXTURES / "stream_text.gemini.sse").read_bytes())
    assert translator.saw_done
    assert translator.usage == TokenUsage(prompt_tokens=31, completion_tokens=46,
                                          cached_tokens=16, reasoning_tokens=40)
    assert translator.text() == "Orange, green and purple."


def test_stream_tool_calls_are_numbered_across_events() -> None:
    raw = (FIXTURES / "stream_tool_calls.gemini.sse").read_bytes()
    chunks = [orjson.loads(frame.removeprefix(b"data: "))
              for frame in translate_stream(raw, forward_usage=False).split(b"\n\n")[:-2]]
    calls = [call for chunk in chunks for choice in chunk["choices"]
             for call in choice["delta"].get("tool_calls", [])]
    assert [(c["index"], c["function"]["name"]) for c in calls] == [
        (0, "get_weather"), (1, "get_weather")]
    assert len({c["id"] for c in calls}) == 2
    assert chunks[-1]["choices"][0]["finish_reason"] == "tool_calls"
    assert chunks[0]["choices"][0]["delta"]["reasoning_content"] == "Let me check both cities."


def test_truncated_stream_is_not_done_and_owes_no_done_frame() -> None:
    raw = (FIXTURES / "stream_text.gemini.sse").read_bytes()
    first_two = b"".join(part + b"\r\n\r\n" for part in raw.split(b"\r\n\r\n")[:2])
    adapter, deployment = make()
    translator = adapter.stream_translator(deployment, forward_usage_chunk=True)
    frames = translator.feed(first_two) + translator.finish()
    assert len(frames) == 2
    assert not translator.saw_done
    assert b"[DONE]" not in b"".join(frames)
    assert translator.text() == "Orange, green and purple"
    # Only the prompt was counted so far: no usage, so the gateway counts the streamed text.
    assert translator.usage is None


def test_midstream_error_is_raised_after_the_frames_before_it() -> None:
    adapter, deployment = make()
    translator = adapter.stream_translator(deployment, forward_usage_chunk=False)
    frames = translator.feed((FIXTURES / "stream_midstream_error.gemini.sse").read_bytes())
    assert len(frames) == 1 and b'"content":"Orange"' in frames[0]
    with pytest.raises(UpstreamUnavailable, match="overloaded"):
        translator.finish()
    assert not translator.saw_done


def test_error_event_alone_raises_at_once() -> None:
    adapter, deployment = make()
    translator = adapter.stream_translator(deployment, forward_usage_chunk=False)
    error = {"error": {"code": 429, "message": "slow down", "status": "RESOURCE_EXHAUSTED"}}
    with pytest.raises(UpstreamRateLimited):
        translator.feed(b"data: " + orjson.dumps(error) + b"\r\n\r\n")


def test_non_json_stream_event_is_a_protocol_error() -> None:
    adapter, deployment = make()
    translator = adapter.stream_translator(deployment, forward_usage_chunk=False)
    with pytest.raises(UpstreamProtocolError):
        translator.feed(b"data: {truncated\r\n\r\n")


# --- errors --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("case", "status", "error"),
    [
        ("rate_limit", 429, UpstreamRateLimited),
        ("api_key_invalid", 400, UpstreamAuthError),
        ("permission_denied", 403, UpstreamAuthError),
        ("context", 400, ContextLengthExceeded),
        ("invalid_argument", 400, InvalidRequest),
        ("unavailable", 503, UpstreamUnavailable),
        ("internal", 500, UpstreamError),
        ("deadline", 504, UpstreamTimeout),
        ("not_found", 404, UpstreamError),
    ],
)
def test_error_mapping(case: str, status: int, error: type[LLMuxError]) -> None:
    adapter, _ = make()
    mapped = adapter.parse_error(status, (FIXTURES / f"error_{case}.gemini.json").read_bytes())
    assert type(mapped) is error
    assert KEY not in mapped.message
    assert mapped.message


def test_rate_limit_carries_googles_retry_delay() -> None:
    adapter, _ = make()
    mapped = adapter.parse_error(429, (FIXTURES / "error_rate_limit.gemini.json").read_bytes())
    assert isinstance(mapped, UpstreamRateLimited)
    assert mapped.retry_after_s == 28.0
    assert mapped.headers["Retry-After"] == "28"
    assert mapped.status == 429 and mapped.retryable


def test_context_length_error_has_openais_code() -> None:
    adapter, _ = make()
    mapped = adapter.parse_error(400, (FIXTURES / "error_context.gemini.json").read_bytes())
    assert mapped.to_dict()["error"]["code"] == "context_length_exceeded"
    assert mapped.status == 400 and not mapped.retryable


@pytest.mark.parametrize(
    ("status", "error"),
    [(429, UpstreamRateLimited), (401, UpstreamAuthError), (502, UpstreamError),
     (503, UpstreamUnavailable), (400, InvalidRequest)],
)
def test_errors_without_googles_envelope_fall_back_on_the_status(
    status: int, error: type[LLMuxError]
) -> None:
    adapter, _ = make()
    mapped = adapter.parse_error(status, b"<html><body>Bad Gateway</body></html>")
    assert type(mapped) is error
