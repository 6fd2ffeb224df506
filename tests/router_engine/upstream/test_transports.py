"""The transport contract, run for every HTTP transport against the fake OpenAI server (a real
HTTP server on loopback)."""

from __future__ import annotations

from collections.abc import AsyncIterator

import orjson
import pytest

from router_engine.upstream import AiohttpTransport, Http1Transport, Transport, UpstreamRequest
from schemas.errors import UpstreamConnectError, UpstreamProtocolError, UpstreamTimeout
from tests.fakes.fixtures import FakeServer, free_port


@pytest.fixture(params=[AiohttpTransport, Http1Transport])
async def transport(request: pytest.FixtureRequest) -> AsyncIterator[Transport]:
    transport: Transport = request.param(limit=10)
    yield transport
    await transport.aclose()


def chat(url: str, *, model: str = "gpt-4o", stream: bool = False, headers: dict[str, str]
         | None = None, **timeouts: float) -> UpstreamRequest:
    body = {"model": model, "messages": [{"role": "user", "content": "ping"}], "stream": stream}
    if stream:
        body["stream_options"] = {"include_usage": True}
    return UpstreamRequest(
        "POST", f"{url}/chat/completions", {"Content-Type": "application/json", **(headers or {})},
        orjson.dumps(body), is_streaming=stream, **timeouts,
    )


async def test_non_streaming_round_trip(transport: Transport, fake_openai: FakeServer
                                        ) -> None:
    response = await transport.send(chat(fake_openai.base_url))
    assert response.status == 200
    assert response.headers["Content-Type"].startswith("application/json")
    doc = orjson.loads(await response.read())
    assert doc["choices"][0]["message"]["content"].endswith("ping")
    received = fake_openai.requests()
    assert received[0]["body"]["messages"] == [{"role": "user", "content": "ping"}]


async def test_error_status_is_returned_not_raised(transport: Transport,
                                                   fake_openai: FakeServer) -> None:
    response = await transport.send(chat(fake_openai.base_url, model="fail-429"))
    assert response.status == 429
    assert response.headers["Retry-After"] == "7"
    assert b"rate_limit_exceeded" in await response.read()


async def test_stream_yields_raw_bytes(transport: Transport, fake_openai: FakeServer
                                       ) -> None:
    response = await transport.send(chat(fake_openai.base_url, stream=True))
    body = b"".join([chunk async for chunk in response.iter_chunks()])
    await response.aclose()
    assert body.startswith(b"data: {") and body.endswith(b"data: [DONE]\n\n")
    assert b'"usage":{"prompt_tokens"' in body


async def test_keep_alive_reuses_connections(transport: Transport, fake_openai: FakeServer
                                             ) -> None:
    for _ in range(5):
        response = await transport.send(chat(fake_openai.base_url))
        await response.read()
    peers = [r["peer"] for r in fake_openai.requests()]
    assert len(peers) == 5
    assert len(set(peers)) == 1, "sequential calls should reuse one pooled connection"


async def test_connection_refused(transport: Transport) -> None:
    url = f"http://127.0.0.1:{free_port()}/v1?key=sk-secret-in-query"
    with pytest.raises(UpstreamConnectError) as caught:
        await transport.send(chat(url))
    assert "sk-secret" not in caught.value.message
    assert "127.0.0.1" in caught.value.message


async def test_slow_headers_time_out(transport: Transport, fake_openai: FakeServer) -> None:
    request = chat(fake_openai.base_url, model="slow", headers={"x-fake-delay": "5"},
                   timeout_s=0.3)
    with pytest.raises(UpstreamTimeout):
        await transport.send(request)


async def test_stall_between_chunks_times_out(transport: Transport,
                                              fake_openai: FakeServer) -> None:
    request = chat(fake_openai.base_url, model="stall", stream=True,
                   headers={"x-fake-delay": "5"}, stall_timeout_s=0.3)
    response = await transport.send(request)
    received = []
    with pytest.raises(UpstreamTimeout):
        async for chunk in response.iter_chunks():
            received.append(chunk)
    assert b"".join(received).startswith(b"data: ")
    await response.aclose()


async def test_stall_limit_is_per_wait_not_per_stream(transport: Transport,
                                                      fake_openai: FakeServer) -> None:
    # Chunks 0.04 s apart for ~0.5 s, over twice the 0.2 s stall limit: every wait is short, so
    # the whole stream arrives (a deadline kept from an earlier wait would cut it short).
    request = chat(fake_openai.base_url, stream=True, stall_timeout_s=0.2,
                   headers={"x-fake-chunks": "10", "x-fake-interval": "0.04"})
    response = await transport.send(request)
    body = b"".join([chunk async for chunk in response.iter_chunks()])
    await response.aclose()
    assert body.count(b"data: {") == 13  # role, 10 content chunks, finish, usage
    assert body.endswith(b"data: [DONE]\n\n")


async def test_connection_dropped_mid_stream(transport: Transport,
                                             fake_openai: FakeServer) -> None:
    response = await transport.send(chat(fake_openai.base_url, model="break-midstream",
                                         stream=True))
    received = []
    with pytest.raises(UpstreamProtocolError):
        async for chunk in response.iter_chunks():
            received.append(chunk)
    assert b"data: {" in b"".join(received)
    assert b"[DONE]" not in b"".join(received)


async def test_closing_early_cancels_the_upstream_call(transport: Transport,
                                                       fake_openai: FakeServer) -> None:
    request = chat(fake_openai.base_url, stream=True, headers={
        "x-fake-chunks": "200", "x-fake-interval": "0.02", "x-fake-tag": "close-early"})
    response = await transport.send(request)
    chunks = response.iter_chunks()
    first = await anext(chunks)
    assert first.startswith(b"data: ")
    await response.aclose()
    await response.aclose()  # idempotent
    assert await fake_openai.wait_for_event("close-early") == ["client_gone"]


@pytest.mark.parametrize("factory", [AiohttpTransport, Http1Transport])
async def test_usable_again_after_close(factory: type[Transport], fake_openai: FakeServer
                                        ) -> None:
    transport = factory()
    await transport.aclose()  # closing before use is harmless
    response = await transport.send(chat(fake_openai.base_url))
    assert response.status == 200
    await response.read()
    await transport.aclose()
    response = await transport.send(chat(fake_openai.base_url))
    assert response.status == 200
    await response.read()
    await transport.aclose()
