"""A transport that calls a handler function instead of opening sockets.

Used by the in-process ``mock`` provider and by unit tests that script an upstream: the handler
receives the ``UpstreamRequest`` and returns the ``UpstreamResponse`` (its body may be any async
iterator of chunks, so a handler can stream, stall or fail mid-body).
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncGenerator, Awaitable, Callable, Iterable, Mapping

from router_engine.upstream.base import Transport, UpstreamRequest, UpstreamResponse
from schemas.errors import UpstreamTimeout

__all__ = ["MockHandler", "MockTransport", "static_response"]

MockHandler = Callable[[UpstreamRequest], Awaitable[UpstreamResponse]]


class MockTransport(Transport):
    """Answers every request with ``handler``; ``request.timeout_s`` bounds the wait for headers."""

    def __init__(self, handler: MockHandler) -> None:
        self._handler = handler

    async def send(self, request: UpstreamRequest) -> UpstreamResponse:
        try:
            async with asyncio.timeout(request.timeout_s):
                return await self._handler(request)
        except TimeoutError as exc:
            raise UpstreamTimeout("The mock upstream did not answer in time.") from exc

    async def aclose(self) -> None:
        return None


async def _iterate(chunks: Iterable[bytes]) -> AsyncGenerator[bytes, None]:
    for chunk in chunks:
        yield chunk


def static_response(
    status: int, body: bytes | Iterable[bytes], headers: Mapping[str, str] | None = None
) -> UpstreamResponse:
    """A response whose body is ``body`` (bytes, or an iterable of chunks sent one by one)."""
    chunks = [body] if isinstance(body, bytes) else list(body)
    iterator = _iterate(chunks)
    return UpstreamResponse(status, dict(headers or {}), iterator, iterator.aclose)
