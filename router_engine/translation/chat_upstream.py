"""The upstream's OpenAI chat answer as the inbound translations (Messages, Responses) read it.

``/v1/messages`` and ``/v1/responses`` call the upstream through the chat API and rewrite what it
answers: a whole ``chat.completion``, or ``chat.completion.chunk`` frames ending in ``[DONE]``.
Decoding those, and the frame loop of a stream rewrite, do not depend on the target format, so
they are written once here; each target only says what one chunk and the end become.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from typing import Any

import orjson

from router_engine.translation.sse import SSEDecoder
from schemas.errors import UpstreamProtocolError

__all__ = ["ChatStreamRewrite", "completion_object"]


def completion_object(body: bytes | dict[str, Any]) -> dict[str, Any]:
    """The upstream completion as a dict (already decoded bodies pass through).

    Raises:
        UpstreamProtocolError: the body is not a JSON object.
    """
    if isinstance(body, dict):
        return body
    try:
        decoded = orjson.loads(body)
    except orjson.JSONDecodeError:
        raise UpstreamProtocolError("The upstream completion is not JSON.") from None
    if not isinstance(decoded, dict):
        raise UpstreamProtocolError("The upstream completion is not a JSON object.")
    return decoded


class ChatStreamRewrite(ABC):
    """Per-stream state of one chat stream being rewritten into another streaming format.

    Subclasses produce the events of one chunk (``_chunk``) and of the end (``finish``), and set
    ``_is_finished`` once they produced a terminal event; frames after that are ignored.
    """

    __slots__ = ("_decoder", "_is_finished")

    def __init__(self) -> None:
        self._decoder = SSEDecoder()
        self._is_finished = False

    @property
    def is_finished(self) -> bool:
        """True once a terminal event (the end of the stream or an error) was produced."""
        return self._is_finished

    def feed(self, frame: bytes) -> list[bytes]:
        """The events for one or more chat SSE frames (partial frames are buffered).

        Raises:
            UpstreamProtocolError: a frame is not a JSON object.
        """
        events: list[bytes] = []
        for sse in self._decoder.feed(frame):
            if self._is_finished:
                break
            if sse.data.strip() == b"[DONE]":
                events += self.finish()
            else:
                events += self._chunk(_chunk_object(sse.data))
        return events

    @abstractmethod
    def finish(self) -> list[bytes]:
        """The closing events of a stream that ended normally; idempotent."""

    @abstractmethod
    def _chunk(self, chunk: dict[str, Any]) -> list[bytes]:
        """The events one ``chat.completion.chunk`` (or an error frame) completes."""


def _chunk_object(data: bytes) -> dict[str, Any]:
    try:
        payload = orjson.loads(data)
    except orjson.JSONDecodeError:
        raise UpstreamProtocolError("The upstream stream sent a frame that is not JSON.") from None
    if not isinstance(payload, dict):
        raise UpstreamProtocolError("The upstream stream sent a frame that is not an object.")
    return payload
