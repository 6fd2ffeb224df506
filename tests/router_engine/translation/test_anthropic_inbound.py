"""Inbound ``/v1/messages`` translation: Anthropic requests in, OpenAI replies out as Anthropic.

Golden files pin both directions, streams included; the official ``anthropic`` SDK then reads
the translated replies through its public API (non-streamed and streamed), which is what an
Anthropic-SDK client of the gateway will do.
"""

from __future__ import annotations

from typing import Any

import anthropic
import httpx2
import msgspec
import orjson
import pytest
from pydantic import TypeAdapter

from router_engine.translation import (
    OpenAIStreamToAnthropic,
    anthropic_error_body,
    anthropic_error_event,
    anthropic_request_to_openai,
    openai_response_to_anthropic,
)
from schemas.errors import (
    AuthenticationFailed,
    BudgetExceeded,
    ContextLengthExceeded,
    InvalidRequest,
    LLMuxError,
    ModelNotFound,
    NotSupported,
    PermissionDenied,
    RateLimited,
    UpstreamError,
    UpstreamProtocolError,
    UpstreamTimeout,
    UpstreamUnavailable,
)
from schemas.openai import ChatCompletionRequest
from tests.router_engine.translation.golden import (
    FIXTURES,
    assert_golden_bytes,
    assert_golden_json,
    load_json,
    split_every,
    sse_events,
)

INBOUND = FIXTURES / "inbound"
_STREAM_EVENT = TypeAdapter(anthropic.types.RawMessageStreamEvent)


def _sdk_client(status: int, body: bytes, content_type: str) -> anthropic.Anthropic:
    """The official SDK, answered with ``body`` by an in-memory transport (no network)."""
    def answer(request: httpx2.Request) -> httpx2.Response:
        return httpx2.Response(status, content=body, headers={"content-type": content_type})

    http_client = httpx2.Client(transport=httpx2.MockTransport(answer))
    return anthropic.Anthropic(api_key="k", base_url="http://gateway", http_client=http_client,
                               max_retries=0)


_ASK: dict[str, Any] = {"model": "claude-sonnet", "max_tokens": 64,
                        "messages": [{"role": "user", "content": "hi"}]}


# --- requests -------------------------------------------------------------------------------

@pytest.mark.parametrize("case", ["request_basic", "request_tools"])
def test_request_translation_matches_golden(case: str) -> None:
    body = load_json(INBOUND / f"{case}.anthropic.json")
    snapshot = orjson.dumps(body)
    translated = anthropic_request_to_openai(body)
    assert_golden_json(INBOUND / f"{case}.openai.json", translated)
    msgspec.convert(translated, ChatCompletionRequest)  # the gateway's own edge type accepts it
    assert orjson.dumps(body) == snapshot, "the client's body must not be mutated"


def _invalid(**changes: Any) -> dict[str, Any]:
    body = {**_ASK, **changes}
    return {k: v for k, v in body.items() if v is not None}


@pytest.mark.parametrize(("body", "error", "param"), [
    (_invalid(model=None), InvalidRequest, "model"),
    (_invalid(model=""), InvalidRequest, "model"),
    (_invalid(max_tokens=None), InvalidRequest, "max_tokens"),
    (_invalid(max_tokens=0), InvalidRequest, "max_tokens"),
    (_invalid(max_tokens=True), InvalidRequest, "max_tokens"),
    (_invalid(messages=[]), InvalidRequest, "messages"),
    (_invalid(messages=[{"role": "system", "content": "x"}]), InvalidRequest,
     "messages[0].role"),
    (_invalid(messages=[{"role": "user", "content": 5}]), InvalidRequest, "messages[0].content"),
    (_invalid(messages=[{"role": "user", "content": [{"text": "no type"}]}]), InvalidRequest,
     "messages[0].content[0].type"),
    (_invalid(messages=[{"role": "user", "content": [{"type": "tool_result"}]}]), InvalidRequest,
     "messages[0].content[0].tool_use_id"),
    (_invalid(messages=[{"role": "user", "content": [{"type": "image", "source": {
        "type": "base64", "media_type": "image/png"}}]}]), InvalidRequest,
     "messages[0].content[0].source.data"),
    (_invalid(messages=[{"role": "user", "content": [{"type": "image", "source": {
        "type": "file", "file_id": "f"}}]}]), NotSupported, "messages[0].content[0].source.type"),
    (_invalid(messages=[{"role": "user", "content": [{"type": "search_result"}]}]), NotSupported,
     "messages[0].content[0].type"),
    (_invalid(messages=[{"role": "assistant", "content": [{"type": "tool_use", "id": "t",
                                                           "name": "f", "input": "x"}]}]),
     InvalidRequest, "messages[0].content[0]"),
    (_invalid(system=5), InvalidRequest, "system"),
    (_invalid(system=[{"type": "image"}]), InvalidRequest, "system[0]"),
    (_invalid(temperature="hot"), InvalidRequest, "temperature"),
    (_invalid(stream="yes"), InvalidRequest, "stream"),
    (_invalid(stop_sequences=[1]), InvalidRequest, "stop_sequences"),
    (_invalid(tools=[{"name": "f"}]), InvalidRequest, "tools[0]"),
    (_invalid(tools=[{"type": "web_search_20250305", "name": "web_search"}]), NotSupported,
     "tools[0].type"),
    (_invalid(tools=[{"name": "f", "input_schema": {}}], tool_choice={"type": "maybe"}),
     InvalidRequest, "tool_choice.type"),
    (_invalid(tools=[{"name": "f", "input_schema": {}}], tool_choice={"type": "tool"}),
     InvalidRequest, "tool_choice.name"),
    (_invalid(thinking={"type": "enabled"}), InvalidRequest, "thinking.budget_tokens"),
])
def test_invalid_requests_name_the_param(
    body: dict[str, Any], error: type[LLMuxError], param: str
) -> None:
    with pytest.raises(error) as caught:
        anthropic_request_to_openai(body)
    assert caught.value.param == param
    assert caught.value.status == 400


@pytest.mark.parametrize("body", [[], "text", None, 3])
def test_a_body_that_is_not_an_object_is_invalid(body: Any) -> None:
    with pytest.raises(InvalidRequest):
        anthropic_request_to_openai(body)


@pytest.mark.parametrize(("budget", "effort"), [(1024, "low"), (4096, "medium"),
                                                (16384, "high"), (50000, "high")])
def test_thinking_budget_becomes_reasoning_effort(budget: int, effort: str) -> None:
    body = {**_ASK, "thinking": {"type": "enabled", "budget_tokens": budget}}
    assert anthropic_request_to_openai(body)["reasoning_effort"] == effort
    disabled = {**_ASK, "thinking": {"type": "disabled"}}
    assert "reasoning_effort" not in anthropic_request_to_openai(disabled)


def test_an_assistant_turn_of_only_thinking_is_dropped() -> None:
    messages = [{"role": "user", "content": "hi"},
                {"role": "assistant", "content": [{"type": "thinking", "thinking": "hm",
                                                   "signature": "s"}]},
                {"role": "user", "content": "well?"}]
    translated = anthropic_request_to_openai({**_ASK, "messages": messages})
    assert translated["messages"] == [{"role": "user", "content": "hi"},
                                      {"role": "user", "content": "well?"}]


def test_tool_choice_without_tools_is_dropped() -> None:
    translated = anthropic_request_to_openai({**_ASK, "tool_choice": {"type": "auto"}})
    assert "tool_choice" not in translated and "tools" not in translated


# --- responses ------------------------------------------------------------------------------

@pytest.mark.parametrize("case", ["response_text", "response_tool_calls", "response_length"])
def test_response_translation_matches_golden(case: str) -> None:
    raw = (INBOUND / f"{case}.openai.json").read_bytes()
    message = openai_response_to_anthropic(raw, model="claude-sonnet")
    assert_golden_json(INBOUND / f"{case}.anthropic.json", message)
    assert openai_response_to_anthropic(orjson.loads(raw), model="claude-sonnet") == message
    anthropic.types.Message.model_validate(message)


def test_the_sdk_reads_a_translated_response() -> None:
    raw = (INBOUND / "response_tool_calls.openai.json").read_bytes()
    body = orjson.dumps(openai_response_to_anthropic(raw, model="claude-sonnet"))
    message = _sdk_client(200, body, "application/json").messages.create(**_ASK)
    assert message.stop_reason == "tool_use"
    tool_uses = [block for block in message.content if block.type == "tool_use"]
    assert [block.input for block in tool_uses] == [{"city": "Boston"}, {"city": "Paris"}]
    assert message.content[0].type == "thinking"
    assert (message.usage.input_tokens, message.usage.output_tokens) == (82, 17)


@pytest.mark.parametrize("raw", [b"nope", b"[]", b'{"choices": []}',
                                 b'{"choices": [{"message": {"tool_calls": [{"function": '
                                 b'{"name": "f", "arguments": "{bad"}}]}}]}'])
def test_a_reply_that_is_not_a_completion_is_a_protocol_error(raw: bytes) -> None:
    with pytest.raises(UpstreamProtocolError):
        openai_response_to_anthropic(raw, model="m")


# --- streams --------------------------------------------------------------------------------

STREAM_CASES = ["stream_text", "stream_tool_calls", "stream_reasoning"]


def _translate(pieces: list[bytes]) -> bytes:
    translator = OpenAIStreamToAnthropic("claude-sonnet")
    events = [event for piece in pieces for event in translator.feed(piece)]
    return b"".join(events + translator.finish())


@pytest.mark.parametrize("case", STREAM_CASES)
def test_stream_translation_matches_golden(case: str) -> None:
    raw = (INBOUND / f"{case}.openai.sse").read_bytes()
    translated = _translate([raw])
    assert_golden_bytes(INBOUND / f"{case}.anthropic.sse", translated)
    events = sse_events(translated)
    for name, data in events:
        assert name == data["type"]
        _STREAM_EVENT.validate_python(data)
    names = [name for name, _ in events]
    assert names[:2] == ["message_start", "content_block_start"]
    assert names[-2:] == ["message_delta", "message_stop"]


@pytest.mark.parametrize("size", [1, 13])
@pytest.mark.parametrize("case", STREAM_CASES)
def test_stream_translation_does_not_depend_on_how_frames_are_split(case: str, size: int) -> None:
    raw = (INBOUND / f"{case}.openai.sse").read_bytes()
    assert _translate(split_every(raw, size)) == (INBOUND / f"{case}.anthropic.sse").read_bytes()


def test_the_sdk_reads_a_translated_tool_call_stream() -> None:
    raw = (INBOUND / "stream_tool_calls.openai.sse").read_bytes()
    client = _sdk_client(200, _translate([raw]), "text/event-stream")
    with client.messages.stream(**_ASK) as stream:
        message = stream.get_final_message()
    assert message.stop_reason == "tool_use"
    assert [(b.type, getattr(b, "input", None)) for b in message.content] == [
        ("tool_use", {"city": "Paris"}), ("tool_use", {})]
    assert (message.usage.input_tokens, message.usage.output_tokens) == (80, 30)


def test_the_sdk_reads_a_translated_text_stream_with_cached_usage() -> None:
    raw = (INBOUND / "stream_text.openai.sse").read_bytes()
    client = _sdk_client(200, _translate([raw]), "text/event-stream")
    with client.messages.stream(**_ASK) as stream:
        text = "".join(stream.text_stream)
        message = stream.get_final_message()
    assert text == "Hello there, Ünïcode ✓"
    assert message.stop_reason == "end_turn"
    assert message.usage.input_tokens == 76
    assert message.usage.cache_read_input_tokens == 1024


def test_a_broken_stream_ends_with_an_error_event_the_sdk_raises() -> None:
    raw = (INBOUND / "stream_text.openai.sse").read_bytes()
    translator = OpenAIStreamToAnthropic("claude-sonnet")
    events = translator.feed(raw.split(b'data: {"id":"chatcmpl-123"', 3)[0])
    events += translator.error(UpstreamUnavailable("Anthropic: Overloaded"))
    assert translator.is_finished
    assert translator.finish() == [] and translator.error(UpstreamError("again")) == []
    client = _sdk_client(200, b"".join(events), "text/event-stream")
    with pytest.raises(anthropic.APIStatusError) as caught, client.messages.stream(**_ASK) as s:
        s.get_final_message()
    assert caught.value.body == {"type": "error", "error": {"type": "overloaded_error",
                                                            "message": "Anthropic: Overloaded"}}


def test_an_openai_error_frame_becomes_an_error_event() -> None:
    translator = OpenAIStreamToAnthropic("claude-sonnet", message_id="msg_fixed")
    frame = b'data: {"error": {"message": "boom", "type": "service_unavailable_error"}}\n\n'
    events = sse_events(b"".join(translator.feed(frame)))
    assert events == [("error", {"type": "error", "error": {"type": "overloaded_error",
                                                            "message": "boom"}})]
    assert translator.is_finished
    assert translator.feed(b"data: [DONE]\n\n") == []


def test_finish_without_done_closes_the_message_once() -> None:
    translator = OpenAIStreamToAnthropic("claude-sonnet", message_id="msg_fixed")
    events = sse_events(b"".join(translator.finish()))
    assert [name for name, _ in events] == ["message_start", "message_delta", "message_stop"]
    assert events[0][1]["message"]["id"] == "msg_fixed"
    assert translator.finish() == []


# --- errors ---------------------------------------------------------------------------------

@pytest.mark.parametrize(("error", "kind"), [
    (InvalidRequest("bad"), "invalid_request_error"),
    (ContextLengthExceeded("too long"), "invalid_request_error"),
    (AuthenticationFailed("who?"), "authentication_error"),
    (PermissionDenied("no"), "permission_error"),
    (ModelNotFound("no model"), "not_found_error"),
    (RateLimited("slow down", retry_after_s=3), "rate_limit_error"),
    (BudgetExceeded("out of budget"), "billing_error"),
    (UpstreamUnavailable("busy"), "overloaded_error"),
    (UpstreamTimeout("late"), "timeout_error"),
    (UpstreamError("broken"), "api_error"),
    (LLMuxError("internal"), "api_error"),
])
def test_error_envelopes_use_anthropic_types(error: LLMuxError, kind: str) -> None:
    body = anthropic_error_body(error)
    assert body == {"type": "error", "error": {"type": kind, "message": error.message}}
    anthropic.types.ErrorResponse.model_validate(body)
    assert sse_events(anthropic_error_event(error)) == [("error", body)]
