"""The handler-backed mock transport: no sockets, same interface."""

from __future__ import annotations

import asyncio

import pytest

from router_engine.upstream import (
    MockTransport,
    UpstreamRequest,
    UpstreamResponse,
    static_response,
)
from schemas.errors import UpstreamTimeout

REQUEST = UpstreamRequest("POST", "http://upstream.invalid/v1/chat/completions", {}, b"{}")


async def test_handler_sees_the_request_and_answers() -> None:
    seen: list[UpstreamRequest] = []

    async def handler(request: UpstreamRequest) -> UpstreamResponse:
        seen.append(request)
        return static_response(201, [b"ab", b"cd"], {"x-test": "1"})

    transport = MockTransport(handler)
    response = await transport.send(REQUEST)
    assert seen == [REQUEST]
    assert (response.status, response.headers["x-test"]) == (201, "1")
    assert [chunk async for chunk in response.iter_chunks()] == [b"ab", b"cd"]
    await transport.aclose()


async def test_read_joins_the_body_and_closes() -> None:
    async def handler(request: UpstreamRequest) -> UpstreamResponse:
        return static_response(200, b"whole body")

    response = await MockTransport(handler).send(REQUEST)
    assert await response.read() == b"whole body"
    await response.aclose()  # a second close is harmless


async def test_slow_handler_times_out() -> None:
    async def handler(request: UpstreamRequest) -> UpstreamResponse:
        await asyncio.sleep(5)
        raise AssertionError("unreachable")

    request = UpstreamRequest("POST", REQUEST.url, {}, b"{}", timeout_s=0.05)
    with pytest.raises(UpstreamTimeout):
        await MockTransport(handler).send(request)
