"""A fake OpenAI upstream that is never the bottleneck of a benchmark.

It speaks the real wire format of ``POST /v1/chat/completions`` (JSON replies, and SSE streams of
``chat.completion.chunk`` events ending with an optional usage chunk and ``data: [DONE]``) over a
hand-written HTTP/1.1 ``asyncio.Protocol`` with keep-alive, because a framework-based mock (FastAPI,
even raw ASGI under uvicorn) would be slower than the gateway it is meant to feed.

Run it alone with ``python -m bench.upstream --port 9000 --latency-ms 50 --chunks 64
--chunk-interval-ms 5``. Any ``GET`` answers ``200 {"status":"ok"}`` (a readiness probe).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import signal
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import cast

__all__ = ["UpstreamOptions", "UpstreamProtocol", "main", "serve"]

try:  # PERF: orjson parses the small request bodies ~5x faster than json; optional.
    import orjson

    _loads: Callable[[bytes], object] = orjson.loads
except ImportError:  # pragma: no cover - depends on the venv
    _loads = json.loads

_MAX_HEAD = 64 * 1024
_MAX_BODY = 16 * 1024 * 1024
PROMPT_TOKENS = 12
"""Usage reported for every request, so gateways have identical accounting work."""


@dataclass(frozen=True, slots=True)
class UpstreamOptions:
    """Knobs of the fake upstream; times in seconds."""

    latency_s: float = 0.0
    """Delay before a non-streaming reply, and before the first chunk of a stream."""
    chunks: int = 64
    """Content chunks in a streamed reply (each one token)."""
    chunk_interval_s: float = 0.005
    """Pause between two streamed chunks."""
    always_usage: bool = False
    """Send the usage chunk even when ``stream_options.include_usage`` was not asked for."""


def _response(status: str, body: bytes, keep_alive: bool) -> bytes:
    conn = b"keep-alive" if keep_alive else b"close"
    return (b"HTTP/1.1 " + status.encode() + b"\r\ncontent-type: application/json\r\n"
            b"content-length: " + str(len(body)).encode() + b"\r\nconnection: " + conn
            + b"\r\n\r\n" + body)


def _chunked(payload: bytes) -> bytes:
    """One HTTP/1.1 chunk holding ``payload``."""
    return f"{len(payload):x}\r\n".encode() + payload + b"\r\n"


class _Replies:
    """Reply bytes precomputed per model name, so serving a request is a dict lookup and a write."""

    __slots__ = ("_cache", "_chunks")

    def __init__(self, chunks: int) -> None:
        self._cache: dict[str, tuple[bytes, list[bytes], bytes]] = {}
        self._chunks = chunks

    def get(self, model: str) -> tuple[bytes, list[bytes], bytes]:
        """(JSON completion body, SSE chunks without usage, the usage chunk)."""
        cached = self._cache.get(model)
        if cached is None:
            cached = self._build(model)
            if len(self._cache) < 1024:  # NOTE: bounded; a benchmark uses a handful of models.
                self._cache[model] = cached
        return cached

    def _build(self, model: str) -> tuple[bytes, list[bytes], bytes]:
        created = int(time.time())
        usage = {"prompt_tokens": PROMPT_TOKENS, "completion_tokens": self._chunks,
                 "total_tokens": PROMPT_TOKENS + self._chunks}
        text = "tok " * self._chunks
        body = json.dumps({
            "id": "chatcmpl-bench", "object": "chat.completion", "created": created,
            "model": model, "system_fingerprint": "fp_bench",
            "choices": [{"index": 0, "message": {"role": "assistant", "content": text},
                         "logprobs": None, "finish_reason": "stop"}],
            "usage": usage,
        }, separators=(",", ":")).encode()

        def event(choices: list[dict[str, object]], **extra: object) -> bytes:
            data = {"id": "chatcmpl-bench", "object": "chat.completion.chunk", "created": created,
                    "model": model, "system_fingerprint": "fp_bench", "choices": choices, **extra}
            return _chunked(b"data: " + json.dumps(data, separators=(",", ":")).encode() + b"\n\n")

        first = event([{"index": 0, "delta": {"role": "assistant", "content": "tok "},
                        "logprobs": None, "finish_reason": None}])
        middle = event([{"index": 0, "delta": {"content": "tok "}, "logprobs": None,
                         "finish_reason": None}])
        last = event([{"index": 0, "delta": {}, "logprobs": None, "finish_reason": "stop"}])
        stream = [first] + [middle] * (self._chunks - 1)
        stream[-1] = stream[-1] + last
        return body, stream, event([], usage=usage)


_SSE_HEAD = (b"HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\ncache-control: no-cache\r\n"
             b"transfer-encoding: chunked\r\nconnection: keep-alive\r\n\r\n")
_SSE_END = _chunked(b"data: [DONE]\n\n") + b"0\r\n\r\n"
_OK_GET = _response("200 OK", b'{"status":"ok"}', True)


class _Stream:
    """One SSE reply in progress: writes the next chunk on each timer tick."""

    __slots__ = ("_chunks", "_index", "_interval", "_loop", "_proto", "_usage")

    def __init__(self, proto: UpstreamProtocol, chunks: list[bytes], usage: bytes | None,
                 interval: float) -> None:
        self._proto = proto
        self._chunks = chunks
        self._usage = usage
        self._interval = interval
        self._index = 0
        self._loop = asyncio.get_running_loop()

    def tick(self) -> None:
        transport = self._proto.transport
        if transport is None or transport.is_closing():
            return
        chunk = self._chunks[self._index]
        self._index += 1
        if self._index < len(self._chunks):
            transport.write(chunk)
            self._loop.call_later(self._interval, self.tick)
            return
        transport.write(chunk + (self._usage or b"") + _SSE_END)
        self._proto.stream_done()


class UpstreamProtocol(asyncio.Protocol):
    """One client connection: parses pipelined HTTP/1.1 requests with ``content-length`` bodies."""

    __slots__ = ("_buffer", "_busy", "_opts", "_pending", "_replies", "transport")

    def __init__(self, opts: UpstreamOptions, replies: _Replies) -> None:
        self._opts = opts
        self._replies = replies
        self._buffer = b""
        self._busy = False
        """True while an SSE stream owns the connection; later requests wait in ``_pending``."""
        self._pending = b""
        self.transport: asyncio.Transport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # NOTE: uvloop's transports implement the interface without subclassing it.
        self.transport = cast(asyncio.Transport, transport)

    def connection_lost(self, exc: Exception | None) -> None:
        self.transport = None

    def data_received(self, data: bytes) -> None:
        if self._busy:
            self._pending += data
            return
        self._buffer += data
        self._drain()

    def stream_done(self) -> None:
        self._busy = False
        self._buffer, self._pending = self._buffer + self._pending, b""
        self._drain()

    def _drain(self) -> None:
        """Serve every complete request in the buffer (bounded by the buffer's size)."""
        while not self._busy and self.transport is not None:
            head_end = self._buffer.find(b"\r\n\r\n")
            if head_end < 0:
                if len(self._buffer) > _MAX_HEAD:
                    self._fail("431 Request Header Fields Too Large")
                return
            head = self._buffer[:head_end].decode("latin-1")
            length, keep_alive, chunked = _parse_head(head)
            if chunked or length > _MAX_BODY:
                self._fail("411 Length Required" if chunked else "413 Content Too Large")
                return
            end = head_end + 4 + length
            if len(self._buffer) < end:
                return
            body = self._buffer[head_end + 4:end]
            self._buffer = self._buffer[end:]
            self._serve(head, body, keep_alive)

    def _fail(self, status: str) -> None:
        assert self.transport is not None
        self.transport.write(_response(status, b'{"error":"bad request"}', False))
        self.transport.close()

    def _serve(self, head: str, body: bytes, keep_alive: bool) -> None:
        transport = self.transport
        assert transport is not None
        if head.startswith("GET "):
            transport.write(_OK_GET)
            return
        try:
            request = _loads(body)
            assert isinstance(request, dict)
            model = str(request.get("model") or "bench-model")
        except Exception:  # NOTE: any malformed body is the client's fault: answer 400.
            self._fail("400 Bad Request")
            return
        completion, chunks, usage = self._replies.get(model)
        loop = asyncio.get_running_loop()
        if request.get("stream"):
            options = request.get("stream_options") or {}
            wants_usage = self._opts.always_usage or (
                isinstance(options, dict) and bool(options.get("include_usage")))
            transport.write(_SSE_HEAD)
            self._busy = True
            stream = _Stream(self, chunks, usage if wants_usage else None,
                             self._opts.chunk_interval_s)
            loop.call_later(self._opts.latency_s, stream.tick)
            return
        reply = _response("200 OK", completion, keep_alive)
        if self._opts.latency_s > 0:
            loop.call_later(self._opts.latency_s, self._write_later, reply, keep_alive)
        else:
            self._write_later(reply, keep_alive)

    def _write_later(self, reply: bytes, keep_alive: bool) -> None:
        transport = self.transport
        if transport is None or transport.is_closing():
            return
        transport.write(reply)
        if not keep_alive:
            transport.close()


def _parse_head(head: str) -> tuple[int, bool, bool]:
    """(content length, keep-alive, chunked body) from a request head."""
    length = 0
    keep_alive = not head.split("\r\n", 1)[0].endswith("HTTP/1.0")
    chunked = False
    for line in head.split("\r\n")[1:]:
        name, _, value = line.partition(":")
        name = name.strip().lower()
        if name == "content-length":
            length = int(value.strip())
        elif name == "connection":
            keep_alive = value.strip().lower() != "close"
        elif name == "transfer-encoding":
            chunked = "chunked" in value.lower()
    return length, keep_alive, chunked


async def serve(host: str, port: int, opts: UpstreamOptions) -> asyncio.Server:
    """Start listening; the caller owns the returned server."""
    replies = _Replies(opts.chunks)
    loop = asyncio.get_running_loop()
    return await loop.create_server(lambda: UpstreamProtocol(opts, replies), host, port,
                                    backlog=4096, reuse_address=True)


async def _run(host: str, port: int, opts: UpstreamOptions) -> None:
    server = await serve(host, port, opts)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    print(f"bench.upstream listening on http://{host}:{port}/v1 (pid {os.getpid()}, "
          f"latency {opts.latency_s * 1000:g} ms, {opts.chunks} chunks every "
          f"{opts.chunk_interval_s * 1000:g} ms)", flush=True)
    await stop.wait()
    server.close()


def _install_loop(name: str) -> str:
    """Install uvloop when asked for (``auto`` = when importable); returns the loop used."""
    if name == "asyncio":
        return name
    try:
        import uvloop
    except ImportError:
        if name == "uvloop":
            raise
        return "asyncio"
    asyncio.set_event_loop_policy(uvloop.EventLoopPolicy())
    return "uvloop"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.upstream", description=__doc__)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=9000)
    parser.add_argument("--latency-ms", type=float, default=0.0)
    parser.add_argument("--chunks", type=int, default=64)
    parser.add_argument("--chunk-interval-ms", type=float, default=5.0)
    parser.add_argument("--loop", choices=["auto", "uvloop", "asyncio"], default="auto")
    parser.add_argument("--always-usage", action="store_true",
                        help="send the usage chunk even when the request did not ask for it")
    args = parser.parse_args(argv)
    if args.chunks < 1:
        parser.error("--chunks must be at least 1")
    opts = UpstreamOptions(args.latency_ms / 1000, args.chunks, args.chunk_interval_ms / 1000,
                           args.always_usage)
    _install_loop(args.loop)
    asyncio.run(_run(args.host, args.port, opts))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
