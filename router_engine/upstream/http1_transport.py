"""The default transport: HTTP/1.1 over pooled asyncio connections, parsed by httptools.

# PERF: aiohttp's client costs ~100-150 µs of CPU per proxied call on this VM; this transport
# ~30 µs. Measured in front of the fake upstream on one core (Falcon app that only forwards, wrk
# c=64): aiohttp 4,000-6,500 req/s, this client's core 11,200 req/s (docs/performance.md, step 1).
# It does only what an LLM API call needs: one request per connection at a time (keep-alive, no
# pipelining), Content-Length request bodies, Content-Length / chunked / until-EOF responses,
# gzip/deflate decoding, TLS with the system's trust store. No proxies, cookies or redirects.

Pooling: idle connections per origin (``scheme, host, port``), newest first, closed after
``keepalive_s`` idle; at most ``limit`` connections open in all. A pooled connection the server
closed meanwhile fails before any byte arrives: the request is then sent once more on a new
connection (the router's retry rules still apply to everything else).
"""

from __future__ import annotations

import asyncio
import ssl
from collections import deque
from collections.abc import Mapping
from typing import NamedTuple
from urllib.parse import quote, urlsplit

from router_engine.upstream.base import Transport, UpstreamRequest, UpstreamResponse
from router_engine.upstream.http1_connection import Http1Connection
from schemas.errors import LLMuxError, UpstreamConnectError, UpstreamTimeout

__all__ = ["Http1Transport"]

_KEEPALIVE_S = 30.0
_MAX_TARGETS = 4096
"""Parsed URLs kept (one per deployment and operation in practice; cleared past this)."""
_SKIPPED_HEADERS = frozenset({"host", "content-length", "transfer-encoding", "connection"})
_FIXED_HEADERS = b"User-Agent: llmux\r\nAccept-Encoding: identity\r\n"


class _Target(NamedTuple):
    origin: tuple[str, str, int]
    host: str
    """``scheme://host:port`` for messages (never the path or query: keys may sit there)."""
    head: bytes
    """``METHOD /path?query HTTP/1.1`` and the ``Host`` header."""


def _parse(method: str, url: str) -> _Target:
    try:
        parts = urlsplit(url)
        scheme, hostname, port = parts.scheme.lower(), parts.hostname, parts.port
    except ValueError:
        raise UpstreamConnectError("The upstream URL is invalid.") from None
    if scheme not in ("http", "https") or not hostname:
        raise UpstreamConnectError("The upstream URL is invalid.")
    default = 443 if scheme == "https" else 80
    port = port or default
    host = f"{scheme}://{hostname}:{port}"
    path = quote(parts.path or "/", safe="/%:@!$&'()*+,;=-._~")
    if parts.query:
        path += "?" + quote(parts.query, safe="/%:@!$&'()*+,;=-._~?")
    authority = hostname if ":" not in hostname else f"[{hostname}]"
    if port != default:
        authority += f":{port}"
    head = f"{method} {path} HTTP/1.1\r\nHost: {authority}\r\n".encode("ascii")
    return _Target((scheme, hostname, port), host, head)


def _encode_head(target: _Target, headers: Mapping[str, str]) -> bytes:
    """The request line and every header but ``Content-Length`` (which ends the head)."""
    sent = [f"{name}: {value}\r\n" for name, value in headers.items()
            if name.lower() not in _SKIPPED_HEADERS]
    lines = "".join(sent)
    # NOTE: a CR or LF inside a name or value would smuggle a header (or a second request).
    if lines.count("\n") != len(sent) or lines.count("\r") != len(sent):
        raise UpstreamConnectError(f"A header for the upstream {target.host} holds a line break.")
    return b"".join((target.head, lines.encode("latin-1"), _FIXED_HEADERS))


def _encode(head: bytes, body: bytes | None) -> bytes:
    size = b"Content-Length: %d\r\n\r\n" % len(body) if body is not None else b"\r\n"
    return b"".join((head, size, body or b""))


class _Body:
    """The response body as an async iterator; the connection returns to the pool at its end."""

    __slots__ = ("_conn", "_deadline", "_is_done", "_pool", "_stall_s")

    def __init__(self, conn: Http1Connection, pool: _Pool, request: UpstreamRequest,
                 deadline: float) -> None:
        self._conn = conn
        self._pool = pool
        self._stall_s = request.stall_timeout_s if request.is_streaming else None
        self._deadline = deadline
        self._is_done = False

    def __aiter__(self) -> _Body:
        return self

    async def __anext__(self) -> bytes:
        if self._is_done:
            raise StopAsyncIteration
        conn = self._conn
        stall_s = self._stall_s
        try:
            # PERF: what already arrived is taken without a read_chunk coroutine (a small
            # response usually came whole with its head).
            chunk = conn.take_chunk()
            if chunk is None:
                deadline = self._deadline if stall_s is None else \
                    self._pool.loop.time() + stall_s
                chunk = await conn.read_chunk(deadline)
        except TimeoutError:
            await self.aclose()
            what = "did not finish its response in time" if stall_s is None else \
                "stalled mid-stream"
            raise UpstreamTimeout(f"The upstream {conn.host} {what}.") from None
        except LLMuxError:
            await self.aclose()
            raise
        if not chunk:
            self._is_done = True
            self._pool.release(conn)
            raise StopAsyncIteration
        return chunk

    async def aclose(self) -> None:
        if not self._is_done:
            self._is_done = True
            self._pool.discard(self._conn)


class _Pool:
    """Idle connections per origin under one total limit."""

    def __init__(self, loop: asyncio.AbstractEventLoop, limit: int, keepalive_s: float) -> None:
        self.loop = loop
        self._limit = limit
        self._keepalive_s = keepalive_s
        self._idle: dict[tuple[str, str, int], list[Http1Connection]] = {}
        self._open = 0
        self._waiters: deque[asyncio.Future[None]] = deque()
        self._ssl: ssl.SSLContext | None = None

    async def checkout(self, target: _Target, deadline: float, *, reuse: bool = True
                       ) -> Http1Connection | None:
        """An idle connection to ``target``'s origin (when ``reuse``), or None once one more
        connection may be opened (counted now); waits until ``deadline`` for either."""
        while True:
            conn = self.take_idle(target.origin) if reuse else None
            if conn is not None:
                return conn
            if self._open < self._limit or self._close_one_idle():
                self._open += 1
                return None
            waiter = self.loop.create_future()
            self._waiters.append(waiter)
            async with asyncio.timeout_at(deadline):
                await waiter

    async def connect(self, target: _Target, timeout_s: float) -> Http1Connection:
        """Open a connection in the slot ``checkout`` counted (given back if this fails)."""
        scheme, hostname, port = target.origin
        try:
            async with asyncio.timeout(timeout_s):
                _, conn = await self.loop.create_connection(
                    lambda: Http1Connection(self.loop, target.origin, target.host),
                    hostname, port,
                    ssl=self._ssl_context() if scheme == "https" else None,
                    server_hostname=hostname if scheme == "https" else None,
                )
        except BaseException:
            self._forget_one()
            raise
        return conn

    def release(self, conn: Http1Connection) -> None:
        """A response read to its end: keep the connection for the next request, or close it."""
        if not conn.is_reusable:
            self.discard(conn)
            return
        conn.idle_since = self.loop.time()
        self._idle.setdefault(conn.origin, []).append(conn)
        self._wake_one()

    def discard(self, conn: Http1Connection) -> None:
        """Close ``conn`` and stop counting it (once, however often it is called)."""
        conn.close()
        if not conn.is_discarded:
            conn.is_discarded = True
            self._forget_one()

    def take_idle(self, origin: tuple[str, str, int]) -> Http1Connection | None:
        """An idle connection to ``origin`` still fit for use, if there is one."""
        idle = self._idle.get(origin)
        now = self.loop.time()
        while idle:
            conn = idle.pop()
            if not conn.is_closed and now - conn.idle_since < self._keepalive_s:
                return conn
            self.discard(conn)
        return None

    async def aclose(self) -> None:
        for idle in self._idle.values():
            for conn in idle:
                conn.close()
        self._idle.clear()

    def _forget_one(self) -> None:
        self._open -= 1
        self._wake_one()

    def _wake_one(self) -> None:
        while self._waiters:
            waiter = self._waiters.popleft()
            if not waiter.done():
                waiter.set_result(None)
                return

    def _close_one_idle(self) -> bool:
        for idle in self._idle.values():
            if idle:
                self.discard(idle.pop(0))
                return True
        return False

    def _ssl_context(self) -> ssl.SSLContext:
        if self._ssl is None:
            self._ssl = ssl.create_default_context()
        return self._ssl


class Http1Transport(Transport):
    """Sends upstream requests over pooled HTTP/1.1 connections, created inside the running loop.

    Args:
        limit: most connections open at once across all upstream hosts.
        keepalive_s: how long an idle connection is kept for reuse.
    """

    def __init__(self, limit: int = 1000, keepalive_s: float = _KEEPALIVE_S) -> None:
        self._limit = limit
        self._keepalive_s = keepalive_s
        self._pool: _Pool | None = None
        self._targets: dict[tuple[str, str], _Target] = {}
        self._heads: dict[tuple[str, str, int], tuple[Mapping[str, str], _Target, bytes]] = {}

    async def send(self, request: UpstreamRequest) -> UpstreamResponse:
        pool = self._pool
        if pool is None:
            pool = self._pool = _Pool(asyncio.get_running_loop(), self._limit, self._keepalive_s)
        target, head = self._head(request)
        data = _encode(head, request.body)
        deadline = pool.loop.time() + request.timeout_s
        # PERF: an idle pooled connection (the usual case) is taken without a coroutine.
        conn = pool.take_idle(target.origin)
        try:
            if conn is None:
                conn = await pool.checkout(target, deadline)
            if conn is not None:
                try:
                    return await self._exchange(pool, conn, request, data, deadline)
                except UpstreamConnectError:
                    if conn.has_response_bytes:
                        raise
                    # NOTE: the server closed this pooled connection before reading the
                    # request: send it once more, on a new connection.
                await pool.checkout(target, deadline, reuse=False)
        except TimeoutError:
            raise UpstreamTimeout(f"The upstream {target.host} did not answer in time.") from None
        conn = await self._open(pool, target, request, deadline)
        return await self._exchange(pool, conn, request, data, deadline)

    async def aclose(self) -> None:
        pool, self._pool = self._pool, None
        if pool is not None:
            await pool.aclose()

    def _head(self, request: UpstreamRequest) -> tuple[_Target, bytes]:
        """Where ``request`` goes and its encoded head, up to ``Content-Length``."""
        # PERF: adapters send the same headers object with every request of a provider (built
        # once, never changed; a request is frozen), so a head is encoded once per URL and
        # headers object. The entry holds the object, so its id cannot be reused meanwhile.
        headers = request.headers
        key = (request.method, request.url, id(headers))
        cached = self._heads.get(key)
        if cached is not None and cached[0] is headers:
            return cached[1], cached[2]
        target = self._target(request.method, request.url)
        head = _encode_head(target, headers)
        if len(self._heads) >= _MAX_TARGETS:
            self._heads.clear()
        self._heads[key] = (headers, target, head)
        return target, head

    def _target(self, method: str, url: str) -> _Target:
        key = (method, url)
        target = self._targets.get(key)
        if target is None:
            if len(self._targets) >= _MAX_TARGETS:
                self._targets.clear()
            target = self._targets[key] = _parse(method, url)
        return target

    async def _open(self, pool: _Pool, target: _Target, request: UpstreamRequest,
                    deadline: float) -> Http1Connection:
        timeout_s = min(request.connect_timeout_s, max(0.0, deadline - pool.loop.time()))
        try:
            conn = await pool.connect(target, timeout_s)
        except TimeoutError:
            raise UpstreamTimeout(f"The upstream {target.host} did not answer in time.") from None
        except (OSError, ssl.SSLError) as exc:
            raise UpstreamConnectError(
                f"Could not connect to the upstream {target.host} ({type(exc).__name__})."
            ) from exc
        return conn

    async def _exchange(self, pool: _Pool, conn: Http1Connection, request: UpstreamRequest,
                        data: bytes, deadline: float) -> UpstreamResponse:
        conn.start(data)
        try:
            await conn.wait_head(deadline)
        except TimeoutError:
            pool.discard(conn)
            raise UpstreamTimeout(f"The upstream {conn.host} did not answer in time.") from None
        except BaseException:
            pool.discard(conn)
            raise
        body = _Body(conn, pool, request, deadline)
        return UpstreamResponse(conn.status, conn.headers, body, body.aclose)
