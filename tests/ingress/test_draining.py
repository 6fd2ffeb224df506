"""``SettlingApp``: the lifespan shutdown waits for cancelled requests to finish settling."""

from __future__ import annotations

import asyncio
from typing import Any

from ingress.draining import SettlingApp


class _SettlesSlowly:
    """An ASGI app whose requests, when cancelled, await before they settle (a stream first
    closes its upstream response, then publishes its usage) and whose shutdown notes what had
    settled by then."""

    def __init__(self) -> None:
        self.settled: list[str] = []
        self.settled_at_shutdown: list[str] | None = None
        self.started = asyncio.Event()

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] == "lifespan":
            message = await receive()
            assert message["type"] == "lifespan.shutdown"
            self.settled_at_shutdown = list(self.settled)
            return
        self.started.set()
        try:
            await asyncio.sleep(3600)  # a stream that would outlive the grace
        finally:
            await asyncio.sleep(0.05)  # closing the upstream response
            self.settled.append(scope["path"])


async def _shutdown_after_cancelling(app: Any, inner: _SettlesSlowly) -> None:
    """What uvicorn does past its grace: cancel the request, then send the lifespan shutdown."""
    request = asyncio.create_task(app({"type": "http", "path": "/v1/chat"}, None, None))
    await inner.started.wait()
    messages: asyncio.Queue[dict[str, str]] = asyncio.Queue()
    lifespan = asyncio.create_task(app({"type": "lifespan"}, messages.get, None))
    request.cancel()
    await messages.put({"type": "lifespan.shutdown"})
    await lifespan
    await asyncio.gather(request, return_exceptions=True)


async def test_shutdown_waits_for_the_cut_request_to_settle() -> None:
    inner = _SettlesSlowly()
    app = SettlingApp(inner, settle_timeout_s=5.0)
    await _shutdown_after_cancelling(app, inner)
    assert inner.settled_at_shutdown == ["/v1/chat"]
    assert app.in_flight == 0


async def test_without_it_the_shutdown_overtakes_the_settlement() -> None:
    """The race ``SettlingApp`` exists for: the bus would be closed before the usage arrives."""
    inner = _SettlesSlowly()
    await _shutdown_after_cancelling(inner, inner)
    assert inner.settled_at_shutdown == []
    assert inner.settled == ["/v1/chat"]


async def test_a_request_that_never_settles_cannot_hold_the_shutdown() -> None:
    inner = _SettlesSlowly()
    app = SettlingApp(inner, settle_timeout_s=0.01)
    request = asyncio.create_task(app({"type": "http", "path": "/v1/chat"}, None, None))
    await inner.started.wait()
    await app.settled()  # the request is still running: only the timeout ends the wait
    assert app.in_flight == 1 and inner.settled == []
    request.cancel()
    await asyncio.gather(request, return_exceptions=True)
