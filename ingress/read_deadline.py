"""``server.read_timeout``: a client gets that long to send a whole request, headers and body.

uvicorn bounds only the idle time between requests on a keep-alive connection. A client that sends
its request a few bytes at a time (slowloris, or a stuck proxy) would hold its connection, and once
its headers are in, a task and the request's buffers, for as long as it likes. Here a request that
is not read within ``read_timeout`` gets a 408 in OpenAI's error format (when its response has not
started) and its connection is closed; the request's handler, if it was already waiting for the
body, sees the client gone.

# PERF: a timer per request (``call_later`` + ``cancel``) costs ~2.1 µs, about 1.4 % of a request
# at saturation. Instead a request's start is a dict entry, and one sweep a second, only while some
# request is being read, closes the late ones: the deadline is kept to within a second.
"""

from __future__ import annotations

import asyncio
import logging
import time
from typing import ClassVar

import orjson

from ingress.server_protocol import CoalescingHttpToolsProtocol
from schemas.errors import RequestTimeout

__all__ = ["ReadDeadlines", "http_protocol"]

_log = logging.getLogger("llmux.ingress")

_SWEEP_INTERVAL_S = 1.0


class ReadDeadlines:
    """The connections whose request is being read, and when each must be read by."""

    __slots__ = ("_reading", "_sweep", "timeout_s")

    def __init__(self, timeout_s: float) -> None:
        self.timeout_s = timeout_s
        self._reading: dict[_ReadDeadlineProtocol, float] = {}
        self._sweep: asyncio.TimerHandle | None = None

    def begin(self, protocol: _ReadDeadlineProtocol) -> None:
        self._reading[protocol] = time.monotonic() + self.timeout_s
        if self._sweep is None:
            loop = protocol.loop
            self._sweep = loop.call_later(_SWEEP_INTERVAL_S, self._close_late, loop)

    def end(self, protocol: _ReadDeadlineProtocol) -> None:
        self._reading.pop(protocol, None)

    def _close_late(self, loop: asyncio.AbstractEventLoop) -> None:
        now = time.monotonic()
        late = [protocol for protocol, deadline in self._reading.items() if deadline <= now]
        for protocol in late:
            self.end(protocol)
            protocol.read_timed_out(self.timeout_s)
        self._sweep = None
        if self._reading:
            self._sweep = loop.call_later(_SWEEP_INTERVAL_S, self._close_late, loop)


class _ReadDeadlineProtocol(CoalescingHttpToolsProtocol):
    """Registers each request with ``deadlines`` from its first byte until its last."""

    deadlines: ClassVar[ReadDeadlines]

    def on_message_begin(self) -> None:
        super().on_message_begin()
        self.deadlines.begin(self)

    def on_message_complete(self) -> None:
        self.deadlines.end(self)
        super().on_message_complete()

    def connection_lost(self, exc: Exception | None) -> None:
        self.deadlines.end(self)
        super().connection_lost(exc)

    def read_timed_out(self, timeout_s: float) -> None:
        cycle = self.cycle
        if cycle is None or cycle.response_complete or not cycle.response_started:
            error = RequestTimeout(f"The request was not received within {timeout_s:g} s "
                                   "(server.read_timeout); send it again.")
            body = orjson.dumps(error.to_dict())
            self.transport.write(
                b"HTTP/1.1 408 Request Timeout\r\ncontent-type: application/json\r\n"
                b"content-length: %d\r\nconnection: close\r\n\r\n%s" % (len(body), body))
        _log.info("closed a connection that did not send its request in time",
                  extra={"client": self.client, "read_timeout_s": timeout_s})
        self.transport.close()


def http_protocol(read_timeout_s: float) -> type[CoalescingHttpToolsProtocol]:
    """The protocol class to pass as uvicorn's ``http``, with its own ``ReadDeadlines``.

    A ``read_timeout_s`` of 0 (or less) turns the deadline off: no bookkeeping per request at all.
    """
    if read_timeout_s <= 0:
        return CoalescingHttpToolsProtocol

    class GatewayHttpProtocol(_ReadDeadlineProtocol):
        deadlines = ReadDeadlines(read_timeout_s)

    return GatewayHttpProtocol
