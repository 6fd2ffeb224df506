"""The fake OpenAI server with a switch, for tests where a deployment breaks and then recovers.

It serves ``tests.fakes.openai_server``'s app unchanged (a real HTTP server, OpenAI's real wire
format, streaming included) from a thread of the test process. While ``failing`` is set, every chat
completion gets a 500 with an OpenAI error body instead. ``chat_calls`` counts the chat requests
that reached it, failed or not.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Awaitable, Callable
from types import TracebackType

from aiohttp import web

from tests.e2e.processes import free_port
from tests.fakes.openai_server import build_app

_Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
_ERROR_500 = {"error": {"message": "The server had an error processing your request.",
                        "type": "server_error", "param": None, "code": None}}


class SwitchableUpstream:
    def __init__(self) -> None:
        self.port = free_port()
        self.base_url = f"http://127.0.0.1:{self.port}/v1"
        self.failing = False
        self.chat_calls = 0
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, daemon=True)
        self._runner: web.AppRunner | None = None

    @web.middleware
    async def _switch(self, request: web.Request, handler: _Handler) -> web.StreamResponse:
        if request.path.endswith("/chat/completions"):
            self.chat_calls += 1
            if self.failing:
                return web.json_response(_ERROR_500, status=500)
        return await handler(request)

    async def _start(self) -> None:
        app = build_app()
        app.middlewares.append(self._switch)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        await web.TCPSite(self._runner, "127.0.0.1", self.port).start()

    async def _stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()

    def __enter__(self) -> SwitchableUpstream:
        self._thread.start()
        asyncio.run_coroutine_threadsafe(self._start(), self._loop).result(10)
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        asyncio.run_coroutine_threadsafe(self._stop(), self._loop).result(10)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(10)
        self._loop.close()
