"""OpenAI ``chat.completion.chunk`` frames rewritten as the Responses API's streaming events.

The ingress feeds each frame the router yields; this class answers with the events that frame
completes, numbered by ``sequence_number`` from 0:

- the first chunk: ``response.created`` and ``response.in_progress``;
- text: the message item (``response.output_item.added``), its ``output_text`` part
  (``response.content_part.added``) and ``response.output_text.delta`` per chunk; refusals the
  same with a ``refusal`` part and ``response.refusal.delta``;
- reasoning text: a ``reasoning`` item with ``response.reasoning_text.delta``;
- each tool call: a ``function_call`` item and ``response.function_call_arguments.delta``;
- at ``[DONE]`` (OpenAI sends usage after the finish reason, so the end waits for it): the
  ``.done`` event of every open part and item, then ``response.completed`` (or
  ``response.incomplete`` when the model hit its token limit) with the whole response and usage.

A text or reasoning item is closed when another item starts; tool call items stay open until
the end, because providers may interleave their argument deltas. When the upstream stream fails,
the ingress calls ``error(err)``: ``response.failed`` carries what was produced so far, then an
``error`` event (with a nested ``error`` object, which the official SDK raises as ``APIError``).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from router_engine.translation.chat_upstream import ChatStreamRewrite
from router_engine.translation.responses_response import (
    function_call_item,
    item_id,
    message_item,
    reasoning_item,
    response_envelope,
    response_status,
    responses_usage,
    text_part,
)
from router_engine.translation.sse import named_frame
from schemas.errors import LLMuxError, UpstreamError

__all__ = ["OpenAIStreamToResponses"]

_Doc = dict[str, Any]


@dataclass(slots=True)
class _Item:
    """One output item being streamed."""

    kind: str
    """``message``, ``reasoning`` or ``function_call``."""
    index: int
    id: str
    parts: list[list[str]] = field(default_factory=list)
    """Message/reasoning parts as ``[part type, text]``; the last one is open."""
    call_id: str = ""
    name: str = ""
    arguments: str = ""
    is_done: bool = False


class OpenAIStreamToResponses(ChatStreamRewrite):
    """Per-stream state of one chat stream being rewritten as Responses events."""

    __slots__ = ("_calls", "_created_at", "_finish_reason", "_id", "_is_started", "_items",
                 "_open", "_request", "_sequence", "_usage")

    def __init__(self, request: _Doc, *, response_id: str, created_at: int) -> None:
        super().__init__()
        self._request = request
        self._id = response_id
        self._created_at = created_at
        self._sequence = 0
        self._items: list[_Item] = []
        self._open: _Item | None = None
        """The open message or reasoning item (tool call items are tracked in ``_calls``)."""
        self._calls: dict[int, _Item] = {}
        self._finish_reason: str | None = None
        self._usage: Any = None
        self._is_started = False

    def finish(self) -> list[bytes]:
        """Every open item's closing events, then the terminal event; idempotent."""
        if self._is_finished:
            return []
        events = self._start() + self._close_open() + self._close_calls()
        self._is_finished = True
        status, incomplete = response_status(self._finish_reason)
        response = self._response(status)
        response["incomplete_details"] = incomplete
        kind = "response.completed" if status == "completed" else "response.incomplete"
        return [*events, self._event(kind, {"response": response})]

    def error(self, error: LLMuxError) -> list[bytes]:
        """``response.failed`` and an ``error`` event for a broken stream; nothing if ended."""
        if self._is_finished:
            return []
        events = self._start()
        self._is_finished = True
        code = "rate_limit_exceeded" if error.status == 429 else "server_error"
        response = self._response("failed")
        response["error"] = {"code": code, "message": error.message}
        nested = {"type": error.type, "code": error.code, "message": error.message,
                  "param": error.param}
        return [*events, self._event("response.failed", {"response": response}),
                self._event("error", {"code": error.code, "message": error.message,
                                      "param": error.param, "error": nested})]

    # -- one chunk -------------------------------------------------------------------------

    def _chunk(self, chunk: _Doc) -> list[bytes]:
        if isinstance(chunk.get("error"), dict):
            message = chunk["error"].get("message")
            return self.error(UpstreamError(message if isinstance(message, str)
                                            else "The upstream stream failed."))
        events = self._start()
        if chunk.get("usage"):
            self._usage = chunk["usage"]
        choices = chunk.get("choices") or []
        choice = choices[0] if choices and isinstance(choices[0], dict) else {}
        delta = choice.get("delta") or {}
        reasoning = delta.get("reasoning_content") or delta.get("reasoning")
        if isinstance(reasoning, str) and reasoning:
            events += self._text("reasoning", "reasoning_text", reasoning)
        if isinstance(delta.get("content"), str) and delta["content"]:
            events += self._text("message", "output_text", delta["content"])
        if isinstance(delta.get("refusal"), str) and delta["refusal"]:
            events += self._text("message", "refusal", delta["refusal"])
        for call in delta.get("tool_calls") or []:
            if isinstance(call, dict):
                events += self._tool_call(call)
        if choice.get("finish_reason"):
            self._finish_reason = choice["finish_reason"]
        return events

    def _start(self) -> list[bytes]:
        if self._is_started:
            return []
        self._is_started = True
        return [self._event("response.created", {"response": self._response("in_progress")}),
                self._event("response.in_progress", {"response": self._response("in_progress")})]

    def _text(self, kind: str, part_type: str, delta: str) -> list[bytes]:
        events: list[bytes] = []
        item = self._open
        if item is None or item.kind != kind:
            events += self._close_open()
            item = self._open = self._add(kind, item_id(self._id, "msg" if kind == "message"
                                                        else "rs"))
            events.append(self._event("response.output_item.added", {
                "output_index": item.index, "item": self._item_doc(item, "in_progress")}))
        if not item.parts or item.parts[-1][0] != part_type:
            if item.parts:
                events += self._close_part(item)
            item.parts.append([part_type, ""])
            events.append(self._event("response.content_part.added", {
                **self._where(item), "part": _part_doc(part_type, "")}))
        item.parts[-1][1] += delta
        name = {"output_text": "response.output_text.delta", "refusal": "response.refusal.delta",
                "reasoning_text": "response.reasoning_text.delta"}[part_type]
        extra: _Doc = {"logprobs": []} if part_type == "output_text" else {}
        return [*events, self._event(name, {**self._where(item), "delta": delta, **extra})]

    def _tool_call(self, call: _Doc) -> list[bytes]:
        position = call.get("index", 0)
        function = call.get("function") or {}
        events: list[bytes] = []
        item = self._calls.get(position)
        if item is None:
            events += self._close_open()
            call_id = str(call.get("id") or f"call_{self._id.removeprefix('resp_')}_{position}")
            item = self._calls[position] = self._add("function_call", f"fc_{call_id}")
            item.call_id, item.name = call_id, str(function.get("name") or "")
            events.append(self._event("response.output_item.added", {
                "output_index": item.index, "item": self._item_doc(item, "in_progress")}))
        arguments = function.get("arguments")
        if isinstance(arguments, str) and arguments:
            item.arguments += arguments
            events.append(self._event("response.function_call_arguments.delta", {
                "item_id": item.id, "output_index": item.index, "delta": arguments}))
        return events

    # -- closing -----------------------------------------------------------------------------

    def _close_open(self) -> list[bytes]:
        item, self._open = self._open, None
        if item is None:
            return []
        events = self._close_part(item)
        item.is_done = True
        return [*events, self._event("response.output_item.done", {
            "output_index": item.index, "item": self._item_doc(item, "completed")})]

    def _close_part(self, item: _Item) -> list[bytes]:
        part_type, text = item.parts[-1]
        key = "refusal" if part_type == "refusal" else "text"
        name = {"output_text": "response.output_text.done", "refusal": "response.refusal.done",
                "reasoning_text": "response.reasoning_text.done"}[part_type]
        extra: _Doc = {"logprobs": []} if part_type == "output_text" else {}
        return [self._event(name, {**self._where(item), key: text, **extra}),
                self._event("response.content_part.done", {
                    **self._where(item), "part": _part_doc(part_type, text)})]

    def _close_calls(self) -> list[bytes]:
        events: list[bytes] = []
        for item in self._calls.values():
            if item.is_done:
                continue
            item.is_done = True
            events.append(self._event("response.function_call_arguments.done", {
                "item_id": item.id, "output_index": item.index, "name": item.name,
                "arguments": item.arguments}))
            events.append(self._event("response.output_item.done", {
                "output_index": item.index, "item": self._item_doc(item, "completed")}))
        return events

    # -- documents ---------------------------------------------------------------------------

    def _add(self, kind: str, identifier: str) -> _Item:
        item = _Item(kind=kind, index=len(self._items), id=identifier)
        self._items.append(item)
        return item

    def _where(self, item: _Item) -> _Doc:
        return {"item_id": item.id, "output_index": item.index,
                "content_index": len(item.parts) - 1}

    def _item_doc(self, item: _Item, status: str) -> _Doc:
        if item.kind == "function_call":
            return function_call_item(item.call_id, item.name, item.arguments, status)
        if item.kind == "reasoning":
            return reasoning_item(item.id, "".join(text for _, text in item.parts))
        return message_item(item.id, [_part_doc(kind, text) for kind, text in item.parts],
                            status)

    def _response(self, status: str) -> _Doc:
        response = response_envelope(self._request, response_id=self._id,
                                     created_at=self._created_at, status=status)
        if status != "in_progress":
            response["output"] = [self._item_doc(item, "completed" if item.is_done
                                                 else "incomplete") for item in self._items]
            response["usage"] = responses_usage(self._usage)
        return response

    def _event(self, kind: str, payload: _Doc) -> bytes:
        frame = named_frame(kind, {"type": kind, "sequence_number": self._sequence, **payload})
        self._sequence += 1
        return frame


def _part_doc(part_type: str, text: str) -> _Doc:
    if part_type == "output_text":
        return text_part(text)
    if part_type == "refusal":
        return {"type": "refusal", "refusal": text}
    return {"type": "reasoning_text", "text": text}
