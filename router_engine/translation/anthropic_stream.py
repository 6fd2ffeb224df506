"""Anthropic's streamed Messages events, rewritten as OpenAI ``chat.completion.chunk`` frames.

Anthropic streams named events: ``message_start`` (id, model, prompt usage), then per content
block ``content_block_start`` / ``content_block_delta`` / ``content_block_stop``, then
``message_delta`` (stop reason, cumulative usage) and ``message_stop``; ``ping`` may come at any
time. Text deltas become ``delta.content``, tool-use blocks become ``delta.tool_calls`` entries
numbered in the order they appear, and thinking deltas become ``delta.reasoning_content``.

An ``error`` event mid-stream is raised as the mapped gateway error (``overloaded_error`` →
``UpstreamUnavailable``...): the router treats an exception from a translator as a mid-stream
failure and ends the client's stream with an error frame. Frames translated from events that
came before the error in the same piece of body are returned first, and the error is raised by
the next ``feed`` or by ``finish``; nothing the client was owed is dropped.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import msgspec
import orjson

from router_engine.providers.base import StreamTranslator
from router_engine.translation.anthropic_errors import gateway_error
from router_engine.translation.anthropic_response import finish_reason, openai_usage, token_usage
from router_engine.translation.sse import SSEDecoder, data_frame
from schemas.errors import LLMuxError, UpstreamProtocolError
from schemas.token_usage import TokenUsage

__all__ = ["AnthropicStreamTranslator"]

_DONE = b"data: [DONE]\n\n"
_CHARS_PER_TOKEN = 4
_Payload = dict[str, Any]


class AnthropicStreamTranslator(StreamTranslator):
    """Per-stream state of one Anthropic stream being rewritten as OpenAI chunks."""

    __slots__ = ("_decoder", "_forward_usage", "_handlers", "_has_final_usage", "_id", "_model",
                 "_pending_error", "_pieces", "_raw_usage", "_reported", "_tool_indexes",
                 "saw_done")

    def __init__(self, *, forward_usage_chunk: bool) -> None:
        self._decoder = SSEDecoder()
        self._forward_usage = forward_usage_chunk
        self._id = ""
        self._model = ""
        self._pieces: list[str] = []
        self._raw_usage: _Payload = {}
        self._tool_indexes: dict[int, int] = {}
        """Anthropic content-block index → OpenAI tool-call index."""
        self.saw_done = False
        self._reported: TokenUsage | None = None
        self._has_final_usage = False
        self._pending_error: LLMuxError | None = None
        # PERF: one dict lookup per event instead of an if-chain; bound once per stream.
        self._handlers: dict[str, Callable[[_Payload], list[bytes]]] = {
            "message_start": self._message_start,
            "content_block_start": self._block_start,
            "content_block_delta": self._block_delta,
            "message_delta": self._message_delta,
            "message_stop": self._message_stop,
        }

    def feed(self, data: bytes) -> list[bytes]:
        self._raise_pending()
        frames: list[bytes] = []
        for event in self._decoder.feed(data):
            payload = _json(event.data)
            kind = payload.get("type", "")
            if kind == "error":
                self._pending_error = _stream_error(payload)
                break
            handler = self._handlers.get(kind)
            if handler is not None:  # ping, content_block_stop and future events add nothing
                frames.extend(handler(payload))
        if not frames:
            self._raise_pending()
        return frames

    def finish(self) -> list[bytes]:
        self._raise_pending()
        return []

    def _raise_pending(self) -> None:
        error, self._pending_error = self._pending_error, None
        if error is not None:
            raise error

    def text(self) -> str:
        return "".join(self._pieces)

    @property
    def usage(self) -> TokenUsage | None:  # type: ignore[override]  # the base has a plain attribute
        """Anthropic's numbers; before its final count, never less than what was streamed.

        ``message_start`` reports the exact prompt tokens but only a token or two of output; a
        stream that breaks before ``message_delta`` would be billed as that. Until the final
        count arrives, completion tokens are at least an estimate of the text streamed so far
        (about four characters a token), flagged ``is_estimated``.
        """
        reported = self._reported
        if reported is None or self._has_final_usage:
            return reported
        streamed = -(-sum(len(piece) for piece in self._pieces) // _CHARS_PER_TOKEN)
        if streamed <= reported.completion_tokens:
            return reported
        return msgspec.structs.replace(reported, completion_tokens=streamed, is_estimated=True)

    def _chunk(self, delta: _Payload, finish: str | None = None) -> bytes:
        return data_frame({
            "id": self._id, "object": "chat.completion.chunk",
            "created": 0,  # NOTE: adapters read no clock; Anthropic sends no timestamp
            "model": self._model,
            "choices": [{"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish}],
        })

    def _message_start(self, payload: _Payload) -> list[bytes]:
        message = payload.get("message") or {}
        self._id = message.get("id", "")
        self._model = message.get("model", "")
        self._update_usage(message.get("usage"))
        return [self._chunk({"role": "assistant", "content": ""})]

    def _block_start(self, payload: _Payload) -> list[bytes]:
        block = payload.get("content_block") or {}
        kind = block.get("type")
        if kind == "tool_use":
            tool_index = len(self._tool_indexes)
            self._tool_indexes[payload.get("index", 0)] = tool_index
            call = {"index": tool_index, "id": block.get("id", ""), "type": "function",
                    "function": {"name": block.get("name", ""), "arguments": ""}}
            return [self._chunk({"tool_calls": [call]})]
        if kind == "text" and block.get("text"):
            return self._content(block["text"])
        if kind == "thinking" and block.get("thinking"):
            return self._reasoning(block["thinking"])
        return []

    def _block_delta(self, payload: _Payload) -> list[bytes]:
        delta = payload.get("delta") or {}
        kind = delta.get("type")
        if kind == "text_delta":
            return self._content(delta.get("text", ""))
        if kind == "thinking_delta":
            return self._reasoning(delta.get("thinking", ""))
        if kind == "input_json_delta":
            tool_index = self._tool_indexes.get(payload.get("index", -1))
            partial = delta.get("partial_json", "")
            if tool_index is None or not partial:
                return []
            self._pieces.append(partial)
            call = {"index": tool_index, "function": {"arguments": partial}}
            return [self._chunk({"tool_calls": [call]})]
        return []  # signature_delta, citations_delta: nothing OpenAI can carry

    def _content(self, text: str) -> list[bytes]:
        self._pieces.append(text)
        return [self._chunk({"content": text})]

    def _reasoning(self, text: str) -> list[bytes]:
        self._pieces.append(text)
        return [self._chunk({"reasoning_content": text})]

    def _message_delta(self, payload: _Payload) -> list[bytes]:
        self._has_final_usage = isinstance(payload.get("usage"), dict)
        self._update_usage(payload.get("usage"))
        stop_reason = (payload.get("delta") or {}).get("stop_reason")
        return [self._chunk({}, finish_reason(stop_reason))]

    def _message_stop(self, payload: _Payload) -> list[bytes]:
        self.saw_done = True
        usage = self.usage
        if not self._forward_usage or usage is None:
            return [_DONE]
        usage_chunk = {"id": self._id, "object": "chat.completion.chunk", "created": 0,
                       "model": self._model, "choices": [], "usage": openai_usage(usage)}
        return [data_frame(usage_chunk), _DONE]

    def _update_usage(self, usage: Any) -> None:
        # NOTE: message_delta's counts are cumulative, so they replace message_start's.
        if isinstance(usage, dict):
            self._raw_usage.update({k: v for k, v in usage.items() if v is not None})
            self._reported = token_usage(self._raw_usage)


def _stream_error(payload: _Payload) -> LLMuxError:
    error = payload.get("error") or {}
    return gateway_error(str(error.get("type", "api_error")),
                         str(error.get("message", "The upstream stream failed.")))


def _json(data: bytes) -> _Payload:
    try:
        payload = orjson.loads(data)
    except orjson.JSONDecodeError:
        raise UpstreamProtocolError("Anthropic sent a stream event that is not JSON.") from None
    if not isinstance(payload, dict):
        raise UpstreamProtocolError("Anthropic sent a stream event that is not an object.")
    return payload
