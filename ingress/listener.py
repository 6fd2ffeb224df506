"""A second HTTP listener inside a process whose event loop is already running.

``llmux serve`` runs one uvicorn server for the main port. When an admin port is configured, the
gateway's lifespan starts one of these on the same event loop, serving an app that holds only the
management routes (plus liveness). Both apps share every object (the control state, the outbox),
so a change made on the admin port is in force on the main port at once, and there is one process
to deploy; the admin port can be kept off the public network. ``llmux ledger`` and ``llmux
projector`` serve their health and metrics the same way (``ingress.worker_status``).

The socket is bound before the server starts, so a port in use is a startup error naming it. The
listener speaks the main port's HTTP protocol, ``server.read_timeout`` included: a port kept off
the public network is still one a stuck client could otherwise hold open.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
from collections.abc import Iterator
from typing import Any

import uvicorn

from ingress.forwarding import forwarding_options
from ingress.read_deadline import http_protocol
from ingress.startup import StartupError

__all__ = ["Listener"]

_START_TIMEOUT_S = 10.0


class _EmbeddedServer(uvicorn.Server):
    """A uvicorn server that leaves signal handling to the main server of the process."""

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield


class Listener:
    """Serves ``app`` on ``host:port`` from :meth:`start` until :meth:`aclose`.

    ``port_name`` names the port in startup errors ("admin port": "cannot listen on admin port N").
    """

    def __init__(self, app: Any, host: str, port: int, *, port_name: str,
                 trusted_proxies: list[str] | None = None, read_timeout_s: float = 0.0) -> None:
        self._app = app
        self._port_name = port_name
        self._host = host
        self._port = port
        self._trusted_proxies = trusted_proxies or []
        self._read_timeout_s = read_timeout_s
        self._server: _EmbeddedServer | None = None
        self._task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        """Bind and start serving.

        Raises:
            StartupError: the port cannot be bound, or the server did not start.
        """
        sock = self._bind()
        config = uvicorn.Config(self._app, lifespan="off", log_config=None, access_log=False,
                                timeout_keep_alive=75, server_header=False,
                                http=http_protocol(self._read_timeout_s),
                                **forwarding_options(self._trusted_proxies))
        self._server = _EmbeddedServer(config)
        self._task = asyncio.create_task(self._server.serve(sockets=[sock]),
                                         name=f"listener-{self._port}")
        loop = asyncio.get_running_loop()
        deadline = loop.time() + _START_TIMEOUT_S
        while not self._server.started:
            if self._task.done() or loop.time() > deadline:
                raise StartupError(f"the server on {self._port_name} {self._port} did not start")
            await asyncio.sleep(0.01)

    async def aclose(self) -> None:
        if self._server is None or self._task is None:
            return
        self._server.should_exit = True
        with contextlib.suppress(asyncio.CancelledError):
            await asyncio.wait_for(self._task, timeout=10)
        self._server = self._task = None

    def _bind(self) -> socket.socket:
        family = socket.AF_INET6 if ":" in self._host else socket.AF_INET
        sock = socket.socket(family, socket.SOCK_STREAM)
        try:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            sock.bind((self._host, self._port))
            sock.listen(2048)
        except OSError as exc:
            sock.close()
            raise StartupError(
                f"cannot listen on {self._port_name} {self._port}: {exc}") from None
        sock.set_inheritable(True)
        return sock
