"""The aiohttp transport: one long-lived ``ClientSession`` shared by every deployment.

# PERF: aiohttp's client does 5-7k req/s per core where httpx's default transport collapses under
# concurrency (notes/stack.md §3), so it is the default transport.

This is the only module that names aiohttp exceptions; each is re-raised as ``UpstreamConnectError``
(no response yet), ``UpstreamTimeout`` or ``UpstreamProtocolError`` (the response broke). Messages
name the upstream host only, never the full URL: some providers put the key in the query string.
"""

from __future__ import annotations

import asyncio
from typing import NoReturn

import aiohttp
from yarl import URL

from router_engine.upstream.base import Transport, UpstreamRequest, UpstreamResponse
from schemas.errors import UpstreamConnectError, UpstreamProtocolError, UpstreamTimeout

__all__ = ["AiohttpTransport"]

_DNS_CACHE_TTL_S = 300
_KEEPALIVE_S = 30.0


def _host(url: str) -> str:
    """``scheme://host:port`` of ``url``: safe for messages (no path, no query, no credentials)."""
    try:
        parsed = URL(url)
    except (TypeError, ValueError):
        return "<invalid url>"
    return f"{parsed.scheme}://{parsed.host}:{parsed.port}"


def _raise_before_response(exc: BaseException, request: UpstreamRequest) -> NoReturn:
    host = _host(request.url)
    if isinstance(exc, TimeoutError | aiohttp.ServerTimeoutError):
        raise UpstreamTimeout(f"The upstream {host} did not answer in time.") from exc
    if isinstance(exc, aiohttp.InvalidURL):
        raise UpstreamConnectError(f"The upstream URL for {host} is invalid.") from exc
    if isinstance(exc, aiohttp.ClientResponseError):
        raise UpstreamProtocolError(
            f"The upstream {host} sent a malformed response ({type(exc).__name__})."
        ) from exc
    raise UpstreamConnectError(
        f"Could not connect to the upstream {host} ({type(exc).__name__})."
    ) from exc


def _raise_in_body(exc: BaseException, host: str, *, is_streaming: bool) -> NoReturn:
    if isinstance(exc, TimeoutError | aiohttp.ServerTimeoutError):
        what = "stalled mid-stream" if is_streaming else "did not finish its response in time"
        raise UpstreamTimeout(f"The upstream {host} {what}.") from exc
    raise UpstreamProtocolError(
        f"The upstream {host} broke off its response ({type(exc).__name__})."
    ) from exc


class _Body:
    """The response body as an async iterator of raw chunks, each read under a deadline.

    A stream allows ``stall_timeout_s`` of silence between chunks; a non-streaming call must finish
    by its whole-call deadline. After the last chunk the connection goes back to the pool; closing
    before that drops the connection, which cancels the upstream call.
    """

    __slots__ = ("_deadline", "_host", "_is_done", "_is_streaming", "_resp", "_stall_s")

    def __init__(
        self, resp: aiohttp.ClientResponse, request: UpstreamRequest, deadline: float
    ) -> None:
        self._resp = resp
        self._host = _host(request.url)
        self._is_streaming = request.is_streaming
        self._stall_s = request.stall_timeout_s
        self._deadline = deadline
        self._is_done = False

    def __aiter__(self) -> _Body:
        return self

    async def __anext__(self) -> bytes:
        if self._is_done:
            raise StopAsyncIteration
        try:
            if self._is_streaming:
                async with asyncio.timeout(self._stall_s):
                    chunk = await self._resp.content.readany()
            else:
                async with asyncio.timeout_at(self._deadline):
                    chunk = await self._resp.content.readany()
        except (aiohttp.ClientError, TimeoutError, OSError) as exc:
            await self.aclose()
            _raise_in_body(exc, self._host, is_streaming=self._is_streaming)
        if not chunk:
            self._is_done = True
            self._resp.release()
            raise StopAsyncIteration
        return chunk

    async def aclose(self) -> None:
        if not self._is_done:
            self._is_done = True
            # NOTE: close(), not release(): an unread body would otherwise be drained, and the
            # upstream would keep generating (and billing) for a client that has gone.
            self._resp.close()


class AiohttpTransport(Transport):
    """Sends upstream requests over one pooled aiohttp session, created inside the running loop.

    Args:
        limit: most connections open at once across all upstream hosts.
    """

    def __init__(self, limit: int = 1000) -> None:
        self._limit = limit
        self._session: aiohttp.ClientSession | None = None

    def _get_session(self) -> aiohttp.ClientSession:
        session = self._session
        if session is None or session.closed:
            connector = aiohttp.TCPConnector(
                limit=self._limit,
                limit_per_host=0,
                ttl_dns_cache=_DNS_CACHE_TTL_S,
                keepalive_timeout=_KEEPALIVE_S,
            )
            session = aiohttp.ClientSession(connector=connector, timeout=aiohttp.ClientTimeout())
            self._session = session
        return session

    async def send(self, request: UpstreamRequest) -> UpstreamResponse:
        session = self._get_session()
        loop = asyncio.get_running_loop()
        deadline = loop.time() + request.timeout_s
        timeout = aiohttp.ClientTimeout(
            total=None, connect=None, sock_connect=request.connect_timeout_s, sock_read=None
        )
        try:
            async with asyncio.timeout_at(deadline):
                resp = await session.request(
                    request.method,
                    request.url,
                    data=request.body,
                    headers=request.headers,
                    timeout=timeout,
                    allow_redirects=False,
                )
        except (aiohttp.ClientError, TimeoutError, OSError) as exc:
            _raise_before_response(exc, request)
        body = _Body(resp, request, deadline)
        return UpstreamResponse(resp.status, resp.headers, body, body.aclose)

    async def aclose(self) -> None:
        session = self._session
        self._session = None
        if session is not None:
            await session.close()
