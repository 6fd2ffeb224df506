"""SSE framing: events decoded from bytes split anywhere, and frames encoded for each dialect."""

from __future__ import annotations

import pytest

from router_engine.translation.sse import SSEDecoder, SSEEvent, data_frame, named_frame

BODY = (b": keep-alive comment\r\n\r\n"
        b"event: message_start\r\ndata: {\"a\": 1}\r\n\r\n"
        b"data: line one\ndata: line two\n\n"
        b"event: ping\n\n"
        b"data:no-space\n\n"
        b"data: [DONE]\n\n")
EXPECTED = [
    SSEEvent(event="message_start", data=b'{"a": 1}'),
    SSEEvent(event=None, data=b"line one\nline two"),
    SSEEvent(event="ping", data=b""),
    SSEEvent(event=None, data=b"no-space"),
    SSEEvent(event=None, data=b"[DONE]"),
]


@pytest.mark.parametrize("size", [1, 2, 3, 5, 8, len(BODY)])
def test_events_survive_any_split(size: int) -> None:
    decoder = SSEDecoder()
    events = [event for start in range(0, len(BODY), size)
              for event in decoder.feed(BODY[start:start + size])]
    assert events == EXPECTED
    assert decoder.pending == b""


def test_an_unterminated_event_stays_pending() -> None:
    decoder = SSEDecoder()
    assert decoder.feed(b"data: {\"half\":") == []
    assert decoder.pending == b"data: {\"half\":"
    assert decoder.feed(b" true}\n\n") == [SSEEvent(event=None, data=b'{"half": true}')]


def test_frames_round_trip_through_the_decoder() -> None:
    frames = named_frame("content_block_delta", {"text": "é\n"}) + data_frame({"x": [1]})
    assert SSEDecoder().feed(frames) == [
        SSEEvent(event="content_block_delta", data='{"text":"é\\n"}'.encode()),
        SSEEvent(event=None, data=b'{"x":[1]}'),
    ]
