"""OpenAI ``chat.completion.chunk`` frames rewritten as Anthropic's streamed Messages events.

The ingress feeds each frame the router yields; this class answers with the Anthropic events
that frame completes: ``message_start`` on the first chunk, one content block per run of text,
reasoning or tool call (``content_block_start`` / ``_delta`` / ``_stop``), and at ``[DONE]`` the
``message_delta`` with the stop reason and usage, then ``message_stop``. OpenAI sends usage in
a chunk after the finish reason, so the closing events wait for ``[DONE]`` (or ``finish``).

When the upstream stream fails, the ingress calls ``error(err)`` instead of ``finish()``: an
``error`` event is how Anthropic SDKs learn that a stream broke.
"""

from __future__ import annotations

from typing import Any

from router_engine.translation.anthropic_errors import anthropic_error_body
from router_engine.translation.anthropic_inbound_response import (
    anthropic_message_id,
    anthropic_usage,
    stop_reason,
)
from router_engine.translation.chat_upstream import ChatStreamRewrite
from router_engine.translation.sse import named_frame
from schemas.errors import LLMuxError

__all__ = ["OpenAIStreamToAnthropic", "anthropic_error_event"]

_Payload = dict[str, Any]
_ANTHROPIC_ERROR_TYPES = frozenset({
    "invalid_request_error", "authentication_error", "billing_error", "permission_error",
    "not_found_error", "rate_limit_error", "timeout_error", "api_error", "overloaded_error",
})
_OPENAI_ERROR_TYPES = {"service_unavailable_error": "overloaded_error",
                       "insufficient_quota": "billing_error"}


def anthropic_error_event(error: LLMuxError) -> bytes:
    """The ``event: error`` frame for ``error``, as Anthropic sends it mid-stream."""
    return named_frame("error", anthropic_error_body(error))


class OpenAIStreamToAnthropic(ChatStreamRewrite):
    """Per-stream state of one OpenAI stream being rewritten as Anthropic events."""

    __slots__ = ("_block", "_id", "_is_started", "_model", "_next_index", "_stop_reason",
                 "_tool_blocks", "_usage")

    def __init__(self, model: str, *, message_id: str | None = None) -> None:
        super().__init__()
        self._model = model
        self._id = message_id
        self._block: tuple[str, int] | None = None
        """Kind (text, thinking, tool) and index of the open content block."""
        self._next_index = 0
        self._tool_blocks: dict[int, int] = {}
        """OpenAI tool-call index → Anthropic content-block index."""
        self._stop_reason: str | None = None
        self._usage: Any = None
        self._is_started = False

    def finish(self) -> list[bytes]:
        """The closing events (open block stop, ``message_delta``, ``message_stop``); idempotent."""
        if self._is_finished:
            return []
        events = self._start(None) + self._close_block()
        self._is_finished = True
        delta = {"stop_reason": stop_reason(self._stop_reason), "stop_sequence": None}
        usage = anthropic_usage(self._usage)
        events.append(named_frame("message_delta",
                                  {"type": "message_delta", "delta": delta, "usage": usage}))
        events.append(named_frame("message_stop", {"type": "message_stop"}))
        return events

    def error(self, error: LLMuxError) -> list[bytes]:
        """The ``error`` event that ends a stream the upstream broke; nothing if already ended."""
        if self._is_finished:
            return []
        self._is_finished = True
        return [anthropic_error_event(error)]

    def _chunk(self, chunk: _Payload) -> list[bytes]:
        if isinstance(chunk.get("error"), dict):
            self._is_finished = True
            return [_error_event_from_openai(chunk["error"])]
        events = self._start(chunk.get("id"))
        if chunk.get("usage"):
            self._usage = chunk["usage"]
        choices = chunk.get("choices") or []
        choice = choices[0] if choices and isinstance(choices[0], dict) else {}
        delta = choice.get("delta") or {}
        reasoning = delta.get("reasoning_content") or delta.get("reasoning")
        if isinstance(reasoning, str) and reasoning:
            events += self._delta("thinking", {"type": "thinking_delta", "thinking": reasoning})
        if isinstance(delta.get("content"), str) and delta["content"]:
            events += self._delta("text", {"type": "text_delta", "text": delta["content"]})
        for call in delta.get("tool_calls") or []:
            events += self._tool_call(call)
        if choice.get("finish_reason"):
            self._stop_reason = choice["finish_reason"]
        return events

    def _start(self, openai_id: Any) -> list[bytes]:
        if self._is_started:
            return []
        self._is_started = True
        self._id = self._id or anthropic_message_id(openai_id)
        message: _Payload = {
            "id": self._id, "type": "message", "role": "assistant", "model": self._model,
            "content": [], "stop_reason": None, "stop_sequence": None,
            "usage": {"input_tokens": 0, "output_tokens": 0},
        }
        return [named_frame("message_start", {"type": "message_start", "message": message})]

    def _delta(self, kind: str, delta: _Payload) -> list[bytes]:
        events: list[bytes] = []
        if self._block is None or self._block[0] != kind:
            block = {"type": "text", "text": ""} if kind == "text" else \
                {"type": "thinking", "thinking": "", "signature": ""}
            events = self._open_block(kind, block)
        return [*events, self._block_delta(self._current_index, delta)]

    def _tool_call(self, call: Any) -> list[bytes]:
        if not isinstance(call, dict):
            return []
        position = call.get("index", 0)
        function = call.get("function") or {}
        events: list[bytes] = []
        if position not in self._tool_blocks:
            block: _Payload = {"type": "tool_use", "id": call.get("id") or f"toolu_{position}",
                     "name": function.get("name") or "", "input": {}}
            events = self._open_block("tool", block)
            self._tool_blocks[position] = self._current_index
        arguments = function.get("arguments")
        if isinstance(arguments, str) and arguments:
            delta = {"type": "input_json_delta", "partial_json": arguments}
            events.append(self._block_delta(self._tool_blocks[position], delta))
        return events

    def _open_block(self, kind: str, block: _Payload) -> list[bytes]:
        events = self._close_block()
        index = self._next_index
        self._next_index += 1
        self._block = (kind, index)
        events.append(named_frame("content_block_start", {
            "type": "content_block_start", "index": index, "content_block": block}))
        return events

    def _close_block(self) -> list[bytes]:
        if self._block is None:
            return []
        index = self._block[1]
        self._block = None
        return [named_frame("content_block_stop", {"type": "content_block_stop", "index": index})]

    @property
    def _current_index(self) -> int:
        return self._block[1] if self._block is not None else self._next_index - 1

    @staticmethod
    def _block_delta(index: int, delta: _Payload) -> bytes:
        return named_frame("content_block_delta",
                           {"type": "content_block_delta", "index": index, "delta": delta})


def _error_event_from_openai(error: _Payload) -> bytes:
    """The Anthropic ``error`` event for an OpenAI error frame (``data: {"error": {...}}``)."""
    kind = str(error.get("type"))
    if kind not in _ANTHROPIC_ERROR_TYPES:
        kind = _OPENAI_ERROR_TYPES.get(kind, "api_error")
    message = error.get("message")
    body = {"type": kind, "message": message if isinstance(message, str) else "Stream failed."}
    return named_frame("error", {"type": "error", "error": body})
