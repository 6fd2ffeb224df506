"""What ``Http1Transport`` does beyond the shared transport contract, against raw HTTP servers on
loopback that answer with scripted bytes (framings and failures the fake provider never sends)."""

from __future__ import annotations

import asyncio
import gzip
from collections.abc import AsyncIterator, Callable

import pytest
import uvloop

from router_engine.upstream import Http1Transport, UpstreamRequest
from schemas.errors import UpstreamConnectError, UpstreamProtocolError

Reply = Callable[[bytes], bytes | None]
"""Given one request (head and body), the bytes to answer; None closes the connection."""


class RawServer:
    """Answers each request on a connection with ``reply``; records requests and connections."""

    def __init__(self, reply: Reply) -> None:
        self.reply = reply
        self.requests: list[bytes] = []
        self.connections = 0
        self.port = 0
        self._server: asyncio.Server | None = None

    async def start(self) -> None:
        self._server = await asyncio.start_server(self._serve, "127.0.0.1", 0)
        self.port = self._server.sockets[0].getsockname()[1]

    async def stop(self) -> None:
        assert self._server is not None
        self._server.close()

    def url(self, path: str = "/v1/chat/completions") -> str:
        return f"http://127.0.0.1:{self.port}{path}"

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.connections += 1
        try:
            while True:
                head = await reader.readuntil(b"\r\n\r\n")
                length = next((int(line.split(b":")[1]) for line in head.split(b"\r\n")
                               if line.lower().startswith(b"content-length:")), 0)
                request = head + await reader.readexactly(length)
                self.requests.append(request)
                answer = self.reply(request)
                if answer is None:
                    break
                writer.write(answer)
                await writer.drain()
                if b"Connection: close" in answer:
                    break
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        finally:
            writer.close()


@pytest.fixture
async def transport() -> AsyncIterator[Http1Transport]:
    transport = Http1Transport(limit=4)
    yield transport
    await transport.aclose()


async def serve(reply: Reply) -> RawServer:
    server = RawServer(reply)
    await server.start()
    return server


def post(url: str, body: bytes = b'{"x":1}', **kwargs: object) -> UpstreamRequest:
    return UpstreamRequest("POST", url, {"Content-Type": "application/json"}, body,
                           **kwargs)  # type: ignore[arg-type]  # timeouts only


def ok(body: bytes, *extra: bytes) -> bytes:
    return b"\r\n".join([b"HTTP/1.1 200 OK", b"Content-Length: %d" % len(body), *extra,
                         b"", body])


async def test_request_head_and_body_on_the_wire(transport: Http1Transport) -> None:
    server = await serve(lambda _: ok(b"{}"))
    response = await transport.send(post(server.url("/v1/chat/completions?api-version=1")))
    assert await response.read() == b"{}"
    head, _, body = server.requests[0].partition(b"\r\n\r\n")
    lines = head.split(b"\r\n")
    assert lines[0] == b"POST /v1/chat/completions?api-version=1 HTTP/1.1"
    assert f"Host: 127.0.0.1:{server.port}".encode() in lines
    assert b"Content-Length: 7" in lines and b"Content-Type: application/json" in lines
    assert body == b'{"x":1}'
    await server.stop()


async def test_each_request_carries_its_own_headers_and_body(transport: Http1Transport
                                                             ) -> None:
    server = await serve(lambda _: ok(b"{}"))
    url = server.url()
    first = {"Authorization": "Bearer sk-a"}
    second = {"Authorization": "Bearer sk-b", "X-Extra": "1"}
    for headers, body in ((first, b"1"), (second, b"22"), (first, b"333"), (second, b"")):
        response = await transport.send(UpstreamRequest("POST", url, headers, body))
        assert await response.read() == b"{}"
    sent = [request.partition(b"\r\n\r\n") for request in server.requests]
    assert [body for _, _, body in sent] == [b"1", b"22", b"333", b""]
    for (head, _, body), keys in zip(sent, (b"sk-a", b"sk-b", b"sk-a", b"sk-b"), strict=True):
        lines = head.split(b"\r\n")
        assert b"Authorization: Bearer " + keys in lines
        assert (b"X-Extra: 1" in lines) == (keys == b"sk-b")
        assert b"Content-Length: %d" % len(body) in lines
    await server.stop()


async def test_chunked_and_gzip_bodies_are_decoded(transport: Http1Transport) -> None:
    packed = gzip.compress(b'{"hello": "world"}')
    chunked = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nContent-Encoding: gzip\r\n\r\n"
    chunked += b"%x\r\n%s\r\n" % (5, packed[:5]) + b"%x\r\n%s\r\n" % (len(packed) - 5,
                                                                        packed[5:]) + b"0\r\n\r\n"
    server = await serve(lambda _: chunked)
    response = await transport.send(post(server.url()))
    assert response.headers["content-encoding"] == "gzip"
    assert await response.read() == b'{"hello": "world"}'
    await server.stop()


async def test_body_without_length_ends_at_close(transport: Http1Transport) -> None:
    server = await serve(lambda _: b"HTTP/1.1 200 OK\r\nConnection: close\r\n\r\nall of it")
    response = await transport.send(post(server.url()))
    assert await response.read() == b"all of it"
    await server.stop()


async def test_informational_response_is_skipped(transport: Http1Transport) -> None:
    server = await serve(lambda _: b"HTTP/1.1 100 Continue\r\n\r\n" + ok(b"done"))
    response = await transport.send(post(server.url()))
    assert response.status == 200
    assert await response.read() == b"done"
    await server.stop()


async def test_stale_pooled_connection_is_replaced(transport: Http1Transport) -> None:
    answers = iter([ok(b"first", b"Connection: keep-alive"), None, ok(b"second")])
    server = await serve(lambda _: next(answers))
    response = await transport.send(post(server.url()))
    assert await response.read() == b"first"
    # The server closes the pooled connection when the next request arrives (a keep-alive race).
    response = await transport.send(post(server.url()))
    assert await response.read() == b"second"
    assert server.connections == 2
    await server.stop()


async def test_repeated_headers_are_joined_and_case_insensitive(transport: Http1Transport
                                                                ) -> None:
    server = await serve(lambda _: ok(b"{}", b"X-Thing: a", b"x-thing: b", b"Retry-After: 7"))
    response = await transport.send(post(server.url()))
    await response.read()
    assert response.headers["X-THING"] == "a, b"
    assert response.headers.get("retry-after") == "7"
    await server.stop()


async def test_header_with_line_break_is_refused(transport: Http1Transport) -> None:
    request = UpstreamRequest("POST", "http://127.0.0.1:9/x",
                              {"Authorization": "Bearer k\r\nX-Evil: 1"}, b"{}")
    with pytest.raises(UpstreamConnectError) as caught:
        await transport.send(request)
    assert "line break" in caught.value.message
    assert "Bearer" not in caught.value.message


async def test_malformed_response_is_a_protocol_error(transport: Http1Transport) -> None:
    server = await serve(lambda _: b"HTTP/1.1 abc nonsense\r\n\r\n")
    with pytest.raises(UpstreamProtocolError) as caught:
        await transport.send(post(server.url()))
    assert f"127.0.0.1:{server.port}" in caught.value.message
    await server.stop()


async def test_invalid_url_is_a_connect_error(transport: Http1Transport) -> None:
    with pytest.raises(UpstreamConnectError):
        await transport.send(post("ftp://example.invalid/x"))


async def test_connections_beyond_the_limit_wait_for_a_free_one(transport: Http1Transport
                                                                ) -> None:
    release = asyncio.Event()
    server = await serve(lambda _: ok(b"{}"))

    async def call() -> bytes:
        response = await transport.send(post(server.url()))
        await release.wait()
        return await response.read()

    tasks = [asyncio.create_task(call()) for _ in range(6)]
    await asyncio.sleep(0.2)
    assert server.connections == 4, "at most `limit` connections are open at once"
    release.set()
    assert await asyncio.wait_for(asyncio.gather(*tasks), 5) == [b"{}"] * 6
    assert server.connections == 4
    await server.stop()


def test_round_trip_under_uvloop() -> None:
    """The gateway serves on uvloop, whose transports are not ``asyncio.Transport`` subclasses."""

    async def main() -> bytes:
        server = await serve(lambda _: ok(b"uv"))
        transport = Http1Transport()
        try:
            response = await transport.send(post(server.url()))
            return await response.read()
        finally:
            await transport.aclose()
            await server.stop()

    assert uvloop.run(main()) == b"uv"
