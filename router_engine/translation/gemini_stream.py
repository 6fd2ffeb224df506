"""Gemini's ``streamGenerateContent?alt=sse`` events, rewritten as OpenAI chunk frames.

With ``alt=sse`` Gemini sends one ``data: {GenerateContentResponse}`` event per piece of the
answer (events separated by CRLF CRLF), with no end marker: the last event carries each
candidate's ``finishReason`` and the final ``usageMetadata``. Text parts become
``delta.content``, thought parts ``delta.reasoning_content``, and each ``functionCall`` part
(Gemini sends a call whole, never in pieces) one complete ``delta.tool_calls`` entry.

Usage is taken from the event that counts the output (the last); the events before it count
only the prompt. The stream is complete once every candidate has finished; then the usage chunk
(only when the client asked for ``include_usage``) and ``data: [DONE]`` follow. A body that ends
earlier leaves ``saw_done`` False, so the router reports a truncated stream. An ``error`` event
becomes the mapped gateway error, raised from ``feed`` once the frames before it were returned
(so the client gets every piece of text that arrived before the failure).
"""

from __future__ import annotations

import hashlib
from typing import Any

import orjson

from router_engine.providers.base import StreamTranslator
from router_engine.translation.gemini_errors import gateway_error
from router_engine.translation.gemini_response import (
    candidate_content,
    candidate_logprobs,
    finish_reason,
    openai_usage,
    usage_from_gemini,
)
from router_engine.translation.sse import SSEDecoder, data_frame
from schemas.errors import LLMuxError, UpstreamProtocolError

__all__ = ["GeminiStreamTranslator"]

_DONE = b"data: [DONE]\n\n"
_Payload = dict[str, Any]


class _Candidate:
    """What one candidate (one OpenAI choice) has streamed so far."""

    __slots__ = ("has_started", "is_finished", "tool_calls")

    def __init__(self) -> None:
        self.has_started = False
        self.is_finished = False
        self.tool_calls = 0


class GeminiStreamTranslator(StreamTranslator):
    """Per-stream state of one Gemini stream being rewritten as OpenAI chunks."""

    __slots__ = ("_candidates", "_decoder", "_error", "_forward_usage", "_id", "_model",
                 "_pieces", "_response_id", "saw_done", "usage")

    def __init__(self, *, model: str, forward_usage_chunk: bool) -> None:
        self._decoder = SSEDecoder()
        self._forward_usage = forward_usage_chunk
        self._model = model
        self._response_id = ""
        self._id = ""
        self._candidates: dict[int, _Candidate] = {}
        self._pieces: list[str] = []
        self._error: LLMuxError | None = None
        self.saw_done = False
        self.usage = None

    def feed(self, data: bytes) -> list[bytes]:
        self._raise_pending_error()
        frames: list[bytes] = []
        for event in self._decoder.feed(data):
            payload = _json(event.data) if event.data.strip() else {}
            if isinstance(payload.get("error"), dict):
                self._error = gateway_error(payload["error"])
                break
            frames.extend(self._frames(payload))
        if not frames:
            self._raise_pending_error()
        return frames

    def finish(self) -> list[bytes]:
        self._raise_pending_error()
        return []

    def text(self) -> str:
        return "".join(self._pieces)

    def _raise_pending_error(self) -> None:
        if self._error is not None:
            raise self._error

    def _frames(self, payload: _Payload) -> list[bytes]:
        if not payload:
            return []
        if not self._id:
            self._start(payload)
        candidates = payload.get("candidates") or []
        if not candidates and (payload.get("promptFeedback") or {}).get("blockReason"):
            candidates = [{"index": 0, "finishReason": "SAFETY"}]  # the prompt itself was blocked
        frames = [frame for candidate in candidates for frame in self._candidate(candidate)]
        is_done = bool(self._candidates) and all(c.is_finished for c in self._candidates.values())
        self._take_usage(payload.get("usageMetadata"), is_final=is_done)
        if is_done:
            frames.extend(self._end())
        return frames

    def _take_usage(self, metadata: Any, *, is_final: bool) -> None:
        # NOTE: Gemini repeats the prompt count in every event but counts the output only in the
        # last one. Taking an earlier event's numbers would record a broken stream as 0 output
        # tokens; leaving usage unset lets the gateway count the text that did stream.
        if isinstance(metadata, dict) and (is_final or "candidatesTokenCount" in metadata):
            self.usage = usage_from_gemini(metadata) or self.usage

    def _start(self, payload: _Payload) -> None:
        response_id = payload.get("responseId")
        if not isinstance(response_id, str) or not response_id:
            response_id = hashlib.blake2b(orjson.dumps(payload), digest_size=12).hexdigest()
        self._response_id = response_id
        self._id = f"chatcmpl-{response_id}"
        self._model = str(payload.get("modelVersion") or self._model)

    def _candidate(self, candidate: _Payload) -> list[bytes]:
        index = int(candidate.get("index", 0))
        state = self._candidates.setdefault(index, _Candidate())
        content = candidate_content(
            candidate, response_id=self._response_id, first_tool_index=state.tool_calls
        )
        state.tool_calls += len(content.tool_calls)
        delta: _Payload = {}
        if not state.has_started:
            state.has_started = True
            delta = {"role": "assistant", "content": ""}
        if content.reasoning:
            delta["reasoning_content"] = content.reasoning
            self._pieces.append(content.reasoning)
        if content.text:
            delta["content"] = content.text
            self._pieces.append(content.text)
        if content.tool_calls:
            delta["tool_calls"] = content.tool_calls
            self._pieces.extend(call["function"]["arguments"] for call in content.tool_calls)
        finish = finish_reason(candidate.get("finishReason"), has_tool_calls=state.tool_calls > 0)
        state.is_finished = state.is_finished or finish is not None
        if not delta and finish is None:
            return []
        choice = {"index": index, "delta": delta, "logprobs": candidate_logprobs(candidate),
                  "finish_reason": finish}
        return [self._chunk(choice)]

    def _chunk(self, choice: _Payload) -> bytes:
        return data_frame({
            "id": self._id, "object": "chat.completion.chunk",
            "created": 0,  # NOTE: adapters read no clock, and Gemini sends no timestamp
            "model": self._model,
            "choices": [choice],
        })

    def _end(self) -> list[bytes]:
        if self.saw_done:
            return []
        self.saw_done = True
        if not self._forward_usage or self.usage is None:
            return [_DONE]
        usage_chunk = {"id": self._id, "object": "chat.completion.chunk", "created": 0,
                       "model": self._model, "choices": [], "usage": openai_usage(self.usage)}
        return [data_frame(usage_chunk), _DONE]


def _json(data: bytes) -> _Payload:
    try:
        payload = orjson.loads(data)
    except orjson.JSONDecodeError:
        raise UpstreamProtocolError("Gemini sent a stream event that is not JSON.") from None
    if not isinstance(payload, dict):
        raise UpstreamProtocolError("Gemini sent a stream event that is not an object.")
    return payload
