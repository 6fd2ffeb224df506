"""Responses API translation: Responses requests in, chat replies out as ``Response`` objects
and Responses streaming events.

Golden files pin both directions, streams included (byte for byte); the official ``openai`` SDK
then reads the translated replies through its public API, streamed (``responses.create(
stream=True)`` and the ``responses.stream`` helper that accumulates a final response) and not.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import httpx2
import msgspec
import openai
import orjson
import pytest

from router_engine.translation import (
    OpenAIStreamToResponses,
    openai_response_to_responses,
    responses_request_to_openai,
)
from schemas.errors import InvalidRequest, LLMuxError, NotSupported, UpstreamError
from schemas.openai import ChatCompletionRequest
from tests.router_engine.translation.golden import (
    assert_golden_bytes,
    assert_golden_json,
    load_json,
    split_every,
    sse_events,
)

FIXTURES = Path(__file__).resolve().parents[2] / "fixtures" / "responses"
_REQUEST: dict[str, Any] = {"model": "gpt-4o", "input": "Say hi", "tools": [
    {"type": "function", "name": "get_weather", "parameters": {"type": "object"}}]}


def _sdk(body: bytes, content_type: str, status: int = 200) -> openai.OpenAI:
    """The official SDK, answered with ``body`` by an in-memory transport (no network)."""
    def answer(request: httpx2.Request) -> httpx2.Response:
        return httpx2.Response(status, content=body, headers={"content-type": content_type})

    client = httpx2.Client(transport=httpx2.MockTransport(answer))
    return openai.OpenAI(api_key="k", base_url="http://gateway/v1", http_client=client,
                         max_retries=0)


def _translate_stream(name: str, piece_bytes: int, request: dict[str, Any] | None = None
                      ) -> bytes:
    translator = OpenAIStreamToResponses(request or _REQUEST, response_id="resp_test1",
                                         created_at=1760000001)
    source = (FIXTURES / f"{name}.openai.sse").read_bytes()
    out = [event for piece in split_every(source, piece_bytes) for event in translator.feed(piece)]
    out += translator.finish()
    assert translator.is_finished
    return b"".join(out)


# --- requests -------------------------------------------------------------------------------

def test_request_translation_matches_golden() -> None:
    body = load_json(FIXTURES / "request_full.responses.json")
    snapshot = orjson.dumps(body)
    translated = responses_request_to_openai(body)
    assert_golden_json(FIXTURES / "request_full.chat.json", translated)
    msgspec.convert(translated, ChatCompletionRequest)  # the gateway's own edge type accepts it
    assert orjson.dumps(body) == snapshot, "the client's body must not be mutated"


def test_string_input_becomes_one_user_message() -> None:
    assert responses_request_to_openai({"model": "m", "input": "hi"}) == {
        "model": "m", "messages": [{"role": "user", "content": "hi"}]}


@pytest.mark.parametrize(("changes", "error", "param"), [
    ({"model": ""}, InvalidRequest, "model"),
    ({"input": []}, InvalidRequest, "input"),
    ({"input": 5}, InvalidRequest, "input"),
    ({"input": [{"role": "robot", "content": "x"}]}, InvalidRequest, "input[0].role"),
    ({"input": [{"role": "user", "content": 5}]}, InvalidRequest, "input[0].content"),
    ({"input": [{"role": "user", "content": [{"type": "input_file", "file_id": "f"}]}]},
     NotSupported, "input[0].content[0].type"),
    ({"input": [{"role": "user", "content": [{"type": "input_image", "file_id": "f"}]}]},
     NotSupported, "input[0].content[0].image_url"),
    ({"input": [{"type": "item_reference", "id": "msg_1"}]}, NotSupported, "input[0].type"),
    ({"input": [{"type": "function_call", "name": "f"}]}, InvalidRequest, "input[0]"),
    ({"input": [{"type": "function_call_output", "output": "x"}]}, InvalidRequest,
     "input[0].call_id"),
    ({"previous_response_id": "resp_1"}, NotSupported, "previous_response_id"),
    ({"conversation": "conv_1"}, NotSupported, "conversation"),
    ({"background": True}, NotSupported, "background"),
    ({"tools": [{"type": "web_search"}]}, NotSupported, "tools[0].type"),
    ({"tool_choice": {"type": "file_search"}}, NotSupported, "tool_choice"),
    ({"max_output_tokens": 0}, InvalidRequest, "max_output_tokens"),
    ({"text": {"format": {"type": "json_schema", "name": "x"}}}, InvalidRequest, "text.format"),
    ({"text": {"format": {"type": "yaml"}}}, InvalidRequest, "text.format.type"),
])
def test_invalid_requests_name_the_field(changes: dict[str, Any], error: type[LLMuxError],
                                         param: str) -> None:
    with pytest.raises(error) as raised:
        responses_request_to_openai({**_REQUEST, **changes})
    assert raised.value.param == param
    assert raised.value.status == 400


# --- non-streamed replies -------------------------------------------------------------------

@pytest.mark.parametrize("case", ["completion_full", "completion_length"])
def test_response_translation_matches_golden(case: str) -> None:
    completion = load_json(FIXTURES / f"{case}.openai.json")
    response = openai_response_to_responses(
        orjson.dumps(completion), request=_REQUEST, response_id="resp_test1",
        created_at=1760000001)
    assert_golden_json(FIXTURES / f"{case}.responses.json", response)


def test_the_sdk_reads_a_translated_response() -> None:
    body = (FIXTURES / "completion_full.responses.json").read_bytes()
    response = _sdk(body, "application/json").responses.create(model="gpt-4o", input="x")
    assert response.output_text == "Let me check both."
    calls = [item for item in response.output if item.type == "function_call"]
    assert [(c.call_id, c.name, c.arguments) for c in calls] == [
        ("call_a", "get_weather", '{"city":"Paris"}'), ("call_b", "get_time", "{}")]
    assert response.usage is not None
    assert (response.usage.input_tokens, response.usage.output_tokens) == (120, 40)
    assert response.usage.input_tokens_details.cached_tokens == 64
    assert response.usage.output_tokens_details.reasoning_tokens == 12
    assert response.model == "gpt-4o"  # the name the client asked for, not the upstream's


def test_a_length_stop_is_an_incomplete_response() -> None:
    body = (FIXTURES / "completion_length.responses.json").read_bytes()
    response = _sdk(body, "application/json").responses.create(model="gpt-4o", input="x")
    assert response.status == "incomplete"
    assert response.incomplete_details is not None
    assert response.incomplete_details.reason == "max_output_tokens"


# --- streams --------------------------------------------------------------------------------

@pytest.mark.parametrize("case", ["stream_text", "stream_tools", "stream_length"])
def test_stream_translation_matches_golden_however_bytes_are_split(case: str) -> None:
    whole = _translate_stream(case, 1 << 20)
    assert_golden_bytes(FIXTURES / f"{case}.responses.sse", whole)
    assert _translate_stream(case, 7) == whole
    numbers = [data["sequence_number"] for _, data in sse_events(whole)]
    assert numbers == list(range(len(numbers)))


def test_the_sdk_streams_text_and_reasoning() -> None:
    client = _sdk((FIXTURES / "stream_text.responses.sse").read_bytes(), "text/event-stream")
    events = list(client.responses.create(model="gpt-4o", input="x", stream=True))
    deltas = [e.delta for e in events if e.type == "response.output_text.delta"]
    assert "".join(deltas) == "Hello, world"
    assert [e.type for e in events][:2] == ["response.created", "response.in_progress"]
    assert events[-1].type == "response.completed"
    with client.responses.stream(model="gpt-4o", input="x") as stream:
        final = stream.get_final_response()
    assert final.output_text == "Hello, world"
    message = next(item for item in final.output if item.type == "message")
    assert [part.type for part in message.content] == ["output_text", "refusal"]
    reasoning = next(item for item in final.output if item.type == "reasoning")
    assert reasoning.content is not None and reasoning.content[0].text == "Think briefly."
    assert final.usage is not None and final.usage.total_tokens == 18


def test_the_sdk_accumulates_streamed_tool_calls() -> None:
    client = _sdk((FIXTURES / "stream_tools.responses.sse").read_bytes(), "text/event-stream")
    with client.responses.stream(model="gpt-4o", input="x") as stream:
        deltas = [e.delta for e in stream if e.type == "response.function_call_arguments.delta"]
        final = stream.get_final_response()
    assert "".join(deltas) == '{"city":{}"Paris"}'  # interleaved, as the upstream sent them
    calls = [(i.call_id, i.name, i.arguments) for i in final.output if i.type == "function_call"]
    assert calls == [("call_a", "get_weather", '{"city":"Paris"}'), ("call_b", "get_time", "{}")]
    assert final.output_text == "Checking."


def test_a_broken_stream_ends_failed_and_the_sdk_raises() -> None:
    translator = OpenAIStreamToResponses(_REQUEST, response_id="resp_x", created_at=1)
    source = (FIXTURES / "stream_text.openai.sse").read_bytes()
    head = source[: source.index(b"data:", source.index(b'"Hello"'))]
    frames = translator.feed(head)
    frames += translator.error(UpstreamError("The upstream stream ended before it was "
                                             "complete.", code="stream_truncated"))
    assert translator.error(UpstreamError("twice")) == [] and translator.finish() == []
    events = sse_events(b"".join(frames))
    failed = next(data for name, data in events if name == "response.failed")
    assert failed["response"]["status"] == "failed"
    assert failed["response"]["error"]["code"] == "server_error"
    assert failed["response"]["output"][-1]["status"] == "incomplete"
    assert events[-1][0] == "error"
    client = _sdk(b"".join(frames), "text/event-stream")
    received = []
    with pytest.raises(openai.APIError, match="ended before it was complete"):
        for event in client.responses.create(model="gpt-4o", input="x", stream=True):
            received.append(event.type)
    assert "response.output_text.delta" in received and "response.failed" in received


def test_an_upstream_error_frame_fails_the_stream() -> None:
    translator = OpenAIStreamToResponses(_REQUEST, response_id="resp_x", created_at=1)
    events = sse_events(b"".join(translator.feed(
        b'data: {"error": {"message": "The model crashed.", "type": "server_error"}}\n\n')))
    assert [name for name, _ in events] == ["response.created", "response.in_progress",
                                            "response.failed", "error"]
    assert events[-1][1]["message"] == "The model crashed."
