"""Server-sent events, decoded from bytes that arrive split anywhere, and encoded as frames.

Both directions of the Anthropic translation read one SSE dialect and write another; this module
owns only the framing (``event:`` / ``data:`` lines and the blank line between events), never the
JSON inside.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import orjson

__all__ = ["SSEDecoder", "SSEEvent", "data_frame", "named_frame"]


@dataclass(frozen=True, slots=True)
class SSEEvent:
    event: str | None
    """The ``event:`` field, or None when the event had none (OpenAI sends none)."""
    data: bytes
    """The ``data:`` lines joined with newlines, unparsed."""


class SSEDecoder:
    """Buffers body bytes and yields each complete event once its terminating blank line arrived."""

    __slots__ = ("_buffer",)

    def __init__(self) -> None:
        self._buffer = b""

    def feed(self, data: bytes) -> list[SSEEvent]:
        """The events completed by ``data``; a partial event stays buffered."""
        # NOTE: CRLF is folded on the whole buffer, so a "\r" at the end of one chunk and its
        # "\n" at the start of the next still make one line ending.
        buffer = (self._buffer + data).replace(b"\r\n", b"\n")
        *blocks, self._buffer = buffer.split(b"\n\n")
        events = []
        for block in blocks:
            event = _parse_block(block)
            if event is not None:
                events.append(event)
        return events

    @property
    def pending(self) -> bytes:
        """Bytes of an event that has not been terminated yet."""
        return self._buffer


def _parse_block(block: bytes) -> SSEEvent | None:
    name: str | None = None
    data: list[bytes] = []
    for line in block.split(b"\n"):
        field, _, value = line.partition(b":")
        value = value[1:] if value.startswith(b" ") else value
        if field == b"event":
            name = value.decode("utf-8", "replace")
        elif field == b"data":
            data.append(value)
    if name is None and not data:
        return None  # a comment or keep-alive
    return SSEEvent(event=name, data=b"\n".join(data))


def data_frame(payload: dict[str, Any]) -> bytes:
    """An unnamed event, as OpenAI streams them: ``data: {...}\\n\\n``."""
    return b"data: " + orjson.dumps(payload) + b"\n\n"


def named_frame(event: str, payload: dict[str, Any]) -> bytes:
    """A named event, as Anthropic streams them: ``event: name\\ndata: {...}\\n\\n``."""
    return b"event: " + event.encode() + b"\ndata: " + orjson.dumps(payload) + b"\n\n"
