"""The coalescing server protocol: one write per loop iteration, order kept, nothing lost, and a
real uvicorn server still answers plain and streamed responses through it."""

from __future__ import annotations

import asyncio
import socket
from typing import Any

import uvicorn

from ingress.server_protocol import CoalescingHttpToolsProtocol, _CoalescingTransport


class RecordingTransport(asyncio.Transport):
    def __init__(self) -> None:
        super().__init__()
        self.writes: list[bytes] = []
        self.closed = False

    def write(self, data: Any) -> None:
        self.writes.append(bytes(data))

    def close(self) -> None:
        self.closed = True

    def is_closing(self) -> bool:
        return self.closed


async def test_writes_of_one_iteration_go_out_as_one() -> None:
    inner = RecordingTransport()
    transport = _CoalescingTransport(inner, asyncio.get_running_loop())
    transport.write(b"HTTP/1.1 200 OK\r\n\r\n")
    transport.write(b"body")
    assert inner.writes == []
    await asyncio.sleep(0)
    assert inner.writes == [b"HTTP/1.1 200 OK\r\n\r\nbody"]
    transport.write(b"next")
    await asyncio.sleep(0)
    assert inner.writes[1:] == [b"next"]


async def test_close_sends_what_is_pending_first() -> None:
    inner = RecordingTransport()
    transport = _CoalescingTransport(inner, asyncio.get_running_loop())
    transport.write(b"last words")
    transport.close()
    assert inner.writes == [b"last words"] and inner.closed
    await asyncio.sleep(0)
    assert inner.writes == [b"last words"]


async def _app(scope: dict[str, Any], receive: Any, send: Any) -> None:
    if scope["type"] != "http":
        return
    if scope["path"] == "/stream":
        await send({"type": "http.response.start", "status": 200,
                    "headers": [(b"content-type", b"text/event-stream")]})
        for index in range(3):
            await send({"type": "http.response.body", "body": b"data: %d\n\n" % index,
                        "more_body": True})
            await asyncio.sleep(0.01)
        await send({"type": "http.response.body", "body": b""})
        return
    await send({"type": "http.response.start", "status": 200,
                "headers": [(b"content-type", b"text/plain"), (b"content-length", b"5")]})
    await send({"type": "http.response.body", "body": b"hello"})


def _get(port: int, path: str) -> bytes:
    with socket.create_connection(("127.0.0.1", port), timeout=5) as sock:
        sock.sendall(f"GET {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n".encode())
        chunks = []
        while chunk := sock.recv(65536):
            chunks.append(chunk)
    return b"".join(chunks)


async def test_uvicorn_serves_plain_and_streamed_responses_through_it() -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    server = uvicorn.Server(uvicorn.Config(_app, host="127.0.0.1", port=port, lifespan="off",
                                           http=CoalescingHttpToolsProtocol, log_config=None))
    task = asyncio.create_task(server.serve())
    try:
        for _ in range(200):  # bounded: at most ~2 s
            if server.started:
                break
            await asyncio.sleep(0.01)
        plain = await asyncio.to_thread(_get, port, "/")
        streamed = await asyncio.to_thread(_get, port, "/stream")
    finally:
        server.should_exit = True
        await asyncio.wait_for(task, 10)
    assert plain.startswith(b"HTTP/1.1 200 OK\r\n") and plain.endswith(b"\r\n\r\nhello")
    body = streamed.split(b"\r\n\r\n", 1)[1]
    assert b"data: 0\n\n" in body and b"data: 2\n\n" in body and body.endswith(b"0\r\n\r\n")
    assert body.index(b"data: 0") < body.index(b"data: 1") < body.index(b"data: 2")
