"""The upstream HTTP client behind a two-method interface.

Adapters never do I/O; the router hands their ``UpstreamRequest`` to a ``Transport``. Which
transport serves (aiohttp, httpx, the in-process mock) is chosen by configuration and measured by
the benchmark. Only transports name third-party HTTP exceptions: they translate them into
``UpstreamConnectError``, ``UpstreamTimeout`` or ``UpstreamProtocolError`` from ``schemas.errors``.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass, field

__all__ = ["Transport", "UpstreamRequest", "UpstreamResponse"]


@dataclass(frozen=True, slots=True)
class UpstreamRequest:
    method: str
    url: str
    headers: Mapping[str, str]
    body: bytes | None = None
    is_streaming: bool = False
    timeout_s: float = 120.0
    """Whole-call limit for a non-streaming call; time to response headers for a stream."""
    stall_timeout_s: float = 60.0
    """Longest silence allowed between two body chunks of a stream."""
    connect_timeout_s: float = 5.0


@dataclass(slots=True)
class UpstreamResponse:
    """Status and headers as soon as they arrive; the body is read or iterated afterwards."""

    status: int
    headers: Mapping[str, str]
    _chunks: AsyncIterator[bytes]
    _close: object = field(default=None, repr=False)

    async def read(self) -> bytes:
        """The whole body (then the response is closed)."""
        parts = []
        async for chunk in self._chunks:  # NOTE: not a comprehension: one coroutine fewer
            parts.append(chunk)
        await self.aclose()
        return parts[0] if len(parts) == 1 else b"".join(parts)

    def iter_chunks(self) -> AsyncIterator[bytes]:
        """Body bytes as they arrive, unchanged; raises ``UpstreamTimeout`` on a stall."""
        return self._chunks

    async def aclose(self) -> None:
        """Release the connection; safe to call twice. Closing mid-body cancels the call."""
        close = self._close
        self._close = None
        if close is not None:
            await close()  # type: ignore[operator]  # an async callable set by the transport


class Transport(ABC):
    """Sends upstream requests. One long-lived instance serves every deployment."""

    @abstractmethod
    async def send(self, request: UpstreamRequest) -> UpstreamResponse:
        """Send ``request`` and return once the response status and headers arrived.

        Raises:
            UpstreamConnectError: connection refused or reset before a response.
            UpstreamTimeout: no response headers within ``timeout_s``.
        """

    @abstractmethod
    async def aclose(self) -> None:
        """Close every pooled connection."""
