"""One pooled HTTP/1.1 connection to an upstream: an asyncio protocol parsed by httptools.

The connection carries one request at a time. ``start`` writes the request; ``wait_head`` returns
once the status line and headers arrived; ``read_chunk`` returns body bytes as they arrive (all that
is buffered at once), ``b""`` at the end. Waits are bounded by deadlines on the loop's clock, armed
only while actually waiting (a chunk already buffered costs no timer).

Failures are stored as the gateway's own errors (``UpstreamConnectError`` before any response byte,
``UpstreamProtocolError`` for a broken or malformed response, ``UpstreamTimeout``) and raised to the
reader; messages name ``scheme://host:port`` only. httptools' exceptions never leave this module.
"""

from __future__ import annotations

import asyncio
import zlib
from collections import deque
from collections.abc import Iterator, Mapping
from typing import cast

import httptools

from schemas.errors import (
    LLMuxError,
    UpstreamConnectError,
    UpstreamProtocolError,
)

__all__ = ["Http1Connection", "ResponseHeaders"]

_LENGTH_HEADERS = frozenset({b"content-length", b"transfer-encoding"})
_FRAMING_LENGTHS = frozenset(len(name) for name in (*_LENGTH_HEADERS, b"content-encoding"))
_HIGH_WATER = 256 * 1024
"""Buffered body bytes past which the socket stops being read (the reader is slower)."""


class ResponseHeaders(Mapping[str, str]):
    """Response headers, looked up case-insensitively; repeated headers are joined with ``, ``.

    Built from the raw ``(name, value)`` bytes as received; they are decoded (latin-1) on the
    first lookup only. # PERF: the gateway reads a response's headers only when it failed, and
    an API such as OpenAI's sends 20-odd headers: decoding them all cost ~0.3 µs each.
    """

    __slots__ = ("_decoded", "_raw")

    def __init__(self, pairs: list[tuple[bytes, bytes]]) -> None:
        self._raw = pairs
        self._decoded: dict[str, tuple[str, str]] | None = None

    @property
    def _items(self) -> dict[str, tuple[str, str]]:
        items = self._decoded
        if items is None:
            items = self._decoded = {}
            for raw_name, raw_value in self._raw:
                name, value = raw_name.decode("latin-1"), raw_value.decode("latin-1")
                key = name.lower()
                seen = items.get(key)
                items[key] = (name, value if seen is None else f"{seen[1]}, {value}")
        return items

    def __getitem__(self, name: str) -> str:
        return self._items[name.lower()][1]

    def __contains__(self, name: object) -> bool:
        return isinstance(name, str) and name.lower() in self._items

    def __iter__(self) -> Iterator[str]:
        return (name for name, _ in self._items.values())

    def __len__(self) -> int:
        return len(self._items)

    def __repr__(self) -> str:
        return f"ResponseHeaders({dict(self.items())!r})"


_NO_HEADERS = ResponseHeaders([])


def _wake(waiter: asyncio.Future[None] | None) -> None:
    if waiter is not None and not waiter.done():
        waiter.set_result(None)


def _expire(waiter: asyncio.Future[None]) -> None:
    if not waiter.done():
        waiter.set_exception(TimeoutError())


class Http1Connection(asyncio.Protocol):
    """A keep-alive connection; the transport's pool hands it to one request at a time."""

    def __init__(self, loop: asyncio.AbstractEventLoop, origin: tuple[str, str, int],
                 host: str) -> None:
        self.origin = origin
        """``(scheme, hostname, port)``: the pool's key."""
        self.host = host
        """``scheme://host:port``: safe for messages."""
        self.is_closed = False
        self.is_discarded = False
        """Set by the pool when it stopped counting this connection."""
        self.idle_since = 0.0
        self.has_response_bytes = False
        """Whether the current request received any byte (a stale pooled socket receives none)."""
        self._loop = loop
        self._transport: asyncio.Transport | None = None
        self._parser = httptools.HttpResponseParser(self)
        self._timer: asyncio.TimerHandle | None = None
        self._timer_at = 0.0
        self._deadline = 0.0
        self._reset()

    def _reset(self) -> None:
        self.status = 0
        self.headers: ResponseHeaders = _NO_HEADERS
        self.has_response_bytes = False
        self._pairs: list[tuple[bytes, bytes]] = []
        self._has_head = False
        self._is_complete = False
        self._is_keep_alive = False
        self._is_informational = False
        self._length_known = False
        self._error: LLMuxError | None = None
        self._chunks: deque[bytes] = deque()
        self._buffered = 0
        self._is_paused = False
        self._waiter: asyncio.Future[None] | None = None
        self._decoder: zlib._Decompress | None = None

    # -- used by the transport ------------------------------------------------------------------

    @property
    def is_reusable(self) -> bool:
        """The last response was read to its end and the server keeps the connection open."""
        return self._is_complete and self._is_keep_alive and not self.is_closed

    def start(self, data: bytes) -> None:
        """Send one complete request (head and body) on this idle connection."""
        self._reset()
        assert self._transport is not None
        self._transport.write(data)

    async def wait_head(self, deadline: float) -> None:
        """Return once status and headers arrived; raises the stored error or ``TimeoutError``."""
        while not self._has_head:
            if self._error is not None:
                raise self._error
            # PERF: the wait inline (not in a helper coroutine): one coroutine per request fewer.
            waiter = self._waiter_until(deadline)
            try:
                await waiter
            finally:
                self._waiter = None

    def take_chunk(self) -> bytes | None:
        """``read_chunk`` without waiting: the body bytes buffered so far, ``b""`` once the body
        is complete, or None when there is nothing yet (then await ``read_chunk``)."""
        chunks = self._chunks
        if chunks:
            data = chunks.popleft() if len(chunks) == 1 else b"".join(chunks)
            chunks.clear()
            self._buffered = 0
            if self._is_paused and self._transport is not None:
                self._is_paused = False
                self._transport.resume_reading()
            return data
        if self._error is not None:
            raise self._error
        return b"" if self._is_complete else None

    async def read_chunk(self, deadline: float) -> bytes:
        """The body bytes buffered so far (waiting for some), ``b""`` once the body is complete."""
        while True:
            data = self.take_chunk()
            if data is not None:
                return data
            waiter = self._waiter_until(deadline)
            try:
                await waiter
            finally:
                self._waiter = None

    def close(self) -> None:
        """Drop the connection (an unfinished upstream call is cancelled by the closed socket)."""
        self.is_closed = True
        self._disarm()
        if self._transport is not None:
            self._transport.close()

    def _waiter_until(self, deadline: float) -> asyncio.Future[None]:
        """The future a wait awaits, woken by the protocol or failed at ``deadline``; the
        caller sets ``_waiter`` back to None once it was awaited."""
        # PERF: one lazily re-armed timer per connection instead of a timer armed and cancelled
        # for every wait (a stream waits once per chunk): a wait and its wake-up cost 3.3 -> 2.3
        # µs (docs/performance.md, step 8). The timer fires at the earliest deadline it was
        # armed for; if the current wait's deadline is later, it re-arms itself for that, so a
        # wait never ends later than its deadline.
        waiter = self._waiter = self._loop.create_future()
        self._deadline = deadline
        if self._timer is None or deadline < self._timer_at:
            self._arm(deadline)
        return waiter

    def _arm(self, at: float) -> None:
        if self._timer is not None:
            self._timer.cancel()
        self._timer_at = at
        self._timer = self._loop.call_at(at, self._on_timer)

    def _on_timer(self) -> None:
        self._timer = None
        waiter = self._waiter
        if waiter is None or waiter.done():
            return  # NOTE: nobody waits now; the next wait arms the timer again
        if self._loop.time() >= self._deadline:
            _expire(waiter)
        else:
            self._arm(self._deadline)

    def _disarm(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None

    def _fail(self, error: LLMuxError) -> None:
        if self._error is None:
            self._error = error
        _wake(self._waiter)

    # -- asyncio.Protocol -------------------------------------------------------------------------

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # NOTE: uvloop's transports implement asyncio.Transport without subclassing it.
        self._transport = cast(asyncio.Transport, transport)

    def data_received(self, data: bytes) -> None:
        self.has_response_bytes = True
        try:
            self._parser.feed_data(data)
        except httptools.HttpParserError as exc:
            self._fail(UpstreamProtocolError(
                f"The upstream {self.host} sent a malformed response ({type(exc).__name__})."))
            self.close()

    def eof_received(self) -> bool | None:
        return None  # NOTE: close our side too; connection_lost settles the response.

    def connection_lost(self, exc: Exception | None) -> None:
        self.is_closed = True
        if self._waiter is None:
            self._disarm()
        if self._is_complete:
            return
        if self._has_head and not self._length_known and self._error is None:
            self._is_complete = True  # NOTE: a body without length or chunking ends at EOF.
            _wake(self._waiter)
            return
        cause = type(exc).__name__ if exc is not None else "connection closed"
        if not self._has_head:
            self._fail(UpstreamConnectError(
                f"Could not connect to the upstream {self.host} ({cause})."))
        else:
            self._fail(UpstreamProtocolError(
                f"The upstream {self.host} broke off its response ({cause})."))

    # -- httptools callbacks ----------------------------------------------------------------------

    def on_header(self, name: bytes, value: bytes) -> None:
        self._pairs.append((name, value))

    def on_headers_complete(self) -> None:
        status = self._parser.get_status_code()
        if 100 <= status < 200:
            self._is_informational = True  # NOTE: "100 Continue" and friends precede the answer.
            self._pairs = []
            return
        self.status = status
        headers = self.headers = ResponseHeaders(self._pairs)
        length_known = status in (204, 304)
        is_encoded = False
        for name, _ in self._pairs:  # NOTE: framing read without decoding every header
            if len(name) in _FRAMING_LENGTHS:
                key = name.lower()
                length_known = length_known or key in _LENGTH_HEADERS
                is_encoded = is_encoded or key == b"content-encoding"
        self._length_known = length_known
        encoding = headers.get("content-encoding", "").strip().lower() if is_encoded else ""
        if encoding in ("gzip", "x-gzip", "deflate"):
            self._decoder = zlib.decompressobj(47 if encoding != "deflate" else zlib.MAX_WBITS)
        self._has_head = True
        _wake(self._waiter)

    def on_body(self, body: bytes) -> None:
        if self._decoder is not None:
            try:
                body = self._decoder.decompress(body)
            except zlib.error:
                self._fail(UpstreamProtocolError(
                    f"The upstream {self.host} sent a body that does not decompress."))
                self.close()
                return
        self._chunks.append(body)
        self._buffered += len(body)
        if self._buffered > _HIGH_WATER and not self._is_paused and self._transport is not None:
            self._is_paused = True
            self._transport.pause_reading()
        _wake(self._waiter)

    def on_message_complete(self) -> None:
        if self._is_informational:
            self._is_informational = False
            return
        self._is_keep_alive = self._parser.should_keep_alive()
        if self._decoder is not None:
            tail = self._decoder.flush()
            if tail:
                self._chunks.append(tail)
        self._is_complete = True
        _wake(self._waiter)
