"""Smoke tests of the benchmark's own parts: the fake upstream's wire format and the Python driver.

The benchmark's figures are only as good as these two: an upstream that drops the usage chunk or
``[DONE]``, or a driver that miscounts chunks, would make every table wrong without failing.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator

import pytest

from bench.driver import LoadSpec, drive
from bench.runner import body
from bench.upstream import PROMPT_TOKENS, UpstreamOptions, serve
from bench.wrk import _lua_string, _script


@pytest.fixture
async def upstream_url() -> AsyncIterator[str]:
    server = await serve("127.0.0.1", 0, UpstreamOptions(0.0, chunks=5, chunk_interval_s=0.001))
    port = server.sockets[0].getsockname()[1]
    yield f"http://127.0.0.1:{port}/v1/chat/completions"
    server.close()
    await server.wait_closed()


async def _exchange(port: int, requests: list[bytes]) -> bytes:
    """Send requests pipelined on one connection; read until the server has answered them all."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(b"".join(requests))
    await writer.drain()
    data = b""
    while data.count(b"HTTP/1.1 200 OK") < len(requests) or not data.endswith(
            (b"}", b"0\r\n\r\n")):
        chunk = await asyncio.wait_for(reader.read(65536), 5)
        assert chunk, f"connection closed early after {data!r}"
        data += chunk
    writer.close()
    return data


def _post(payload: bytes) -> bytes:
    return (b"POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
            b"Content-Length: " + str(len(payload)).encode() + b"\r\n\r\n" + payload)


async def test_json_reply_has_openai_shape_and_usage(upstream_url: str) -> None:
    port = int(upstream_url.split(":")[2].split("/")[0])
    raw = await _exchange(port, [_post(body("m1"))])
    reply = json.loads(raw.split(b"\r\n\r\n", 1)[1])
    assert reply["object"] == "chat.completion"
    assert reply["model"] == "m1"
    assert reply["choices"][0]["message"]["role"] == "assistant"
    assert reply["usage"] == {"prompt_tokens": PROMPT_TOKENS, "completion_tokens": 5,
                              "total_tokens": PROMPT_TOKENS + 5}


async def test_stream_has_n_chunks_usage_and_done_then_keeps_the_connection(
        upstream_url: str) -> None:
    port = int(upstream_url.split(":")[2].split("/")[0])
    raw = await _exchange(port, [_post(body("m1", stream=True)), _post(body("m2"))])
    assert raw.count(b"HTTP/1.1 200 OK") == 2, "the pipelined second request must be answered"
    stream_part, json_part = raw.split(b"0\r\n\r\n", 1)
    events = [line[6:] for line in stream_part.split(b"\n") if line.startswith(b"data: ")]
    assert events[-1] == b"[DONE]"
    chunks = [json.loads(e) for e in events[:-1]]
    contents = [c["choices"][0]["delta"].get("content") for c in chunks if c["choices"]]
    assert contents.count("tok ") == 5
    assert chunks[-1]["choices"] == [] and chunks[-1]["usage"]["completion_tokens"] == 5
    assert b'"model":"m2"' in json_part


async def test_stream_without_include_usage_sends_no_usage_chunk(upstream_url: str) -> None:
    port = int(upstream_url.split(":")[2].split("/")[0])
    payload = json.dumps({"model": "m", "stream": True, "messages": []}).encode()
    raw = await _exchange(port, [_post(payload)])
    assert b'"usage"' not in raw and b"data: [DONE]" in raw


async def test_python_driver_counts_requests_and_stream_chunks(upstream_url: str) -> None:
    plain = await drive(LoadSpec(upstream_url, body("m"), {"Content-Type": "application/json"},
                                 concurrency=4, duration_s=0.3, warmup_s=0.0))
    assert plain.errors == 0 and plain.requests > 0
    assert plain.p50_ms <= plain.p99_ms
    stream = await drive(LoadSpec(upstream_url, body("m", stream=True), {}, mode="stream",
                                  concurrency=3, duration_s=0.3, warmup_s=0.0))
    assert stream.errors == 0 and stream.stream is not None
    # 5 content chunks, the finish_reason chunk and the usage chunk.
    assert stream.stream["chunks_mean"] == 7
    assert stream.stream["peak_open"] == 3
    assert stream.stream["ttft_ms"]["p50"] > 0


async def test_open_loop_sends_at_the_rate_asked(upstream_url: str) -> None:
    result = await drive(LoadSpec(upstream_url, body("m"), {}, mode="open", rate=200,
                                  duration_s=0.5, warmup_s=0.0))
    assert result.requests == 100 and result.errors == 0 and result.dropped == 0


async def test_driver_reports_http_errors() -> None:
    result = await drive(LoadSpec("http://127.0.0.1:9/v1/chat/completions", body("m"), {},
                                  concurrency=1, duration_s=0.2, warmup_s=0.0, timeout_s=1.0))
    assert result.errors > 0 and result.error_samples


def test_wrk_script_quotes_bodies_and_headers_safely() -> None:
    text = 'a]]b]=]c'
    literal = _lua_string(text)
    level = literal.index("[", 1)
    assert literal.startswith("[" + "=" * (level - 1) + "[") and text in literal
    assert f"]{'=' * (level - 1)}]" not in text
    script = _script(b'{"x":"]]"}', {"Authorization": "Bearer k"})
    assert 'wrk.method = "POST"' in script and "wrk.headers[ [[Authorization]] ]" in script
