"""Hold the lifespan's shutdown until the requests uvicorn cut short have settled.

On SIGTERM uvicorn stops accepting, lets in-flight requests finish for ``server.shutdown_timeout``,
then cancels the ones still running (a long stream, typically) and sends the lifespan shutdown at
once, without waiting for the cancelled tasks. A cancelled stream settles in its ``finally``: it
closes the upstream call and publishes the usage it had. If the lifespan closed the bus first,
that usage would be lost. ``SettlingApp`` lets the shutdown message through only when no request
is left inside the app (or ``settle_timeout_s`` has passed, so a stuck request cannot hold the
process).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Mapping
from typing import Any

__all__ = ["SettlingApp"]

_log = logging.getLogger("llmux.ingress")

Scope = dict[str, Any]
Message = Mapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[dict[str, Any]], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]


class SettlingApp:
    """ASGI wrapper that counts the HTTP requests inside ``app`` and drains them at shutdown."""

    __slots__ = ("_app", "_idle", "_in_flight", "_settle_timeout_s")

    def __init__(self, app: ASGIApp, settle_timeout_s: float = 5.0) -> None:
        self._app = app
        self._settle_timeout_s = settle_timeout_s
        self._in_flight = 0
        self._idle: asyncio.Event | None = None  # NOTE: only made when shutdown waits on it

    @property
    def in_flight(self) -> int:
        """HTTP requests that entered the app and have not left it (their settlement included)."""
        return self._in_flight

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            await self._app(scope, self._drain_before_shutdown(receive), send)
            return
        self._in_flight += 1
        try:
            await self._app(scope, receive, send)
        finally:
            self._in_flight -= 1
            if self._in_flight == 0 and self._idle is not None:
                self._idle.set()

    def _drain_before_shutdown(self, receive: Receive) -> Receive:
        async def receive_drained() -> Message:
            message = await receive()
            if message.get("type") == "lifespan.shutdown":
                await self.settled()
            return message
        return receive_drained

    async def settled(self) -> None:
        """Return once no request is inside the app, or after ``settle_timeout_s``."""
        if self._in_flight == 0:
            return
        self._idle = asyncio.Event()
        try:
            await asyncio.wait_for(self._idle.wait(), self._settle_timeout_s)
        except TimeoutError:
            _log.error("shutting down with requests still settling",
                       extra={"in_flight": self._in_flight})
