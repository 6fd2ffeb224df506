"""SSE framing for ``resp.sse``: upstream frames go out byte for byte.

Falcon's SSE path serialises each yielded object with ``serialize(handler)``. ``RawFrame`` returns
bytes that are already a complete ``data: …\\n\\n`` event, so nothing is decoded or re-encoded.
"""

from __future__ import annotations

from typing import Any

import orjson

from schemas.errors import LLMuxError

__all__ = ["DONE_FRAME", "RawFrame", "error_frame"]

DONE_FRAME = b"data: [DONE]\n\n"


class RawFrame:
    """One complete SSE event, sent as is."""

    __slots__ = ("data",)

    def __init__(self, data: bytes) -> None:
        self.data = data

    def serialize(self, handler: Any = None) -> bytes:
        return self.data

    def __bool__(self) -> bool:  # NOTE: Falcon sends a ping for a falsy event; a frame never is.
        return True


def error_frame(error: LLMuxError) -> bytes:
    """The frame that ends a broken stream: the official SDKs raise it as an APIError."""
    return b"data: " + orjson.dumps(error.to_dict()) + b"\n\n"
