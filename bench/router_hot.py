"""``python -m bench.router_hot``: CPU per ``Router.complete`` call, in process, no HTTP server.

The router is built as the gateway builds it (config -> ``Router`` with a stats store) in front of
``--deployments`` OpenAI deployments of one model group. Their transport is either

* ``fake`` (default): an in-process ``Transport`` that answers every request with a canned chat
  completion carrying usage, after one trip through the event loop, so what is measured is the
  router engine itself (routing, stats, health, request building, response parsing); or
* ``http1``: the real ``Http1Transport`` against ``python -m bench.upstream`` started as a child
  process (its CPU is not counted; this process's socket syscalls are).

``--calls`` calls run per round (``--concurrency`` tasks at a time, after ``--warmup`` calls), each
``Router.complete`` followed by ``Router.price`` as the ingress does; CPU is ``time.process_time``
of this process (user + system) per call, and the median of ``--rounds`` rounds is printed.
``--stream`` measures ``open_stream`` + iterating every frame + ``aclose`` instead. ``--stats
redis`` uses ``RedisStatsStore`` on ``--redis-url`` under a throw-away key prefix (its background
tick counts too, as in the gateway). ``--profile FILE`` writes a cProfile of one more round.

Example::

    python -m bench.router_hot --rounds 3
    python -m bench.router_hot --stats redis --transport http1 --concurrency 64 --calls 20000
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import cProfile
import gc
import os
import statistics
import tempfile
import time
from collections.abc import Awaitable, Callable, Iterator
from pathlib import Path
from typing import Any

import msgspec
import orjson
import uvloop

from bench.procs import ProcessSet
from bench.targets import BenchContext, start_upstreams
from bench.upstream import UpstreamOptions
from router_engine import (
    MemoryStatsStore,
    RedisStatsStore,
    Router,
    StatsStore,
    Transport,
    UpstreamRequest,
    UpstreamResponse,
)
from router_engine.upstream import Http1Transport
from schemas.config import LLMuxConfig

__all__ = ["CannedTransport", "main"]

BODY: dict[str, Any] = {"model": "bench-model",
                        "messages": [{"role": "user", "content": "Say hello."}]}
_USAGE = {"prompt_tokens": 12, "completion_tokens": 9, "total_tokens": 21}
_COMPLETION = orjson.dumps({
    "id": "chatcmpl-bench", "object": "chat.completion", "created": 1_900_000_000,
    "model": "bench-model", "usage": _USAGE,
    "choices": [{"index": 0, "finish_reason": "stop", "logprobs": None,
                 "message": {"role": "assistant", "content": "Hello! How can I help you today?"}}],
})
_STREAM = b"".join(
    b"data: " + orjson.dumps(doc) + b"\n\n" for doc in (
        {"id": "c", "object": "chat.completion.chunk", "model": "bench-model",
         "choices": [{"index": 0, "delta": {"role": "assistant", "content": "Hello"},
                      "finish_reason": None}]},
        {"id": "c", "object": "chat.completion.chunk", "model": "bench-model",
         "choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}]},
        {"id": "c", "object": "chat.completion.chunk", "model": "bench-model", "choices": [],
         "usage": _USAGE},
    )
) + b"data: [DONE]\n\n"
_HEADERS = {"content-type": "application/json"}


class _OneChunk:
    """A one-chunk response body, shaped like ``Http1Transport``'s (``__anext__``, ``aclose``)."""

    __slots__ = ("_data",)

    def __init__(self, data: bytes) -> None:
        self._data: bytes | None = data

    def __aiter__(self) -> _OneChunk:
        return self

    async def __anext__(self) -> bytes:
        data, self._data = self._data, None
        if data is None:
            raise StopAsyncIteration
        return data

    async def aclose(self) -> None:
        self._data = None


class CannedTransport(Transport):
    """Answers every request at once: a chat completion with usage, or a short SSE stream."""

    async def send(self, request: UpstreamRequest) -> UpstreamResponse:
        # NOTE: one trip through the loop, as a real upstream call makes: the stats store's
        # background tick gets its turns, and the loop's own cost per call is counted.
        await asyncio.sleep(0)
        body = _OneChunk(_STREAM if request.is_streaming else _COMPLETION)
        return UpstreamResponse(200, _HEADERS, body, body.aclose)

    async def aclose(self) -> None:
        return None


def _config(base_url: str, deployments: int, strategy: str) -> LLMuxConfig:
    providers = [{"name": f"bench-{i}", "type": "openai", "api_key": "sk-bench",
                  "base_url": base_url, "models": ["bench-model"]} for i in range(deployments)]
    return msgspec.convert({"providers": providers, "routing": {"strategy": strategy}},
                           LLMuxConfig, strict=False)


@contextlib.contextmanager
def _upstream(transport: str) -> Iterator[str]:
    """The deployments' base URL: ``bench.upstream`` in a child process (stopped after) for
    ``http1``; a name never called for ``fake``."""
    if transport != "http1":
        yield "http://upstream.invalid/v1"
        return
    with tempfile.TemporaryDirectory(prefix="llmux-router-hot-") as workdir, \
            ProcessSet() as procs:
        ctx = BenchContext(Path(workdir), procs, gateway_core=None, load_core=None)
        ports, _ = start_upstreams(ctx, {"bench-model": UpstreamOptions(chunks=2,
                                                                        chunk_interval_s=0.0)})
        yield f"http://127.0.0.1:{ports['bench-model']}/v1"


def _one_call(router: Router, stream: bool) -> Callable[[], Awaitable[None]]:
    async def complete() -> None:
        result = await router.complete(BODY, model="bench-model")
        router.price(result.deployment, result.usage)

    async def streamed() -> None:
        call = await router.open_stream({**BODY, "stream": True}, model="bench-model")
        try:
            async for _ in call:
                pass
        finally:
            await call.aclose()
        router.price(call.deployment, call.usage)

    return streamed if stream else complete


async def _round(call: Callable[[], Awaitable[None]], calls: int, concurrency: int) -> float:
    """CPU µs per call over ``calls`` calls run by ``concurrency`` tasks."""
    share, extra = divmod(calls, concurrency)

    async def worker(count: int) -> None:
        for _ in range(count):
            await call()
            # NOTE: the next call starts in a later loop iteration, as the gateway's next request
            # does: calls that end together do not each run straight into their next one.
            await asyncio.sleep(0)

    started = time.process_time()
    await asyncio.gather(*(worker(share + (i < extra)) for i in range(concurrency)))
    return (time.process_time() - started) * 1e6 / calls


async def _stats_store(args: argparse.Namespace) -> StatsStore:
    if args.stats == "memory":
        return MemoryStatsStore()
    store = RedisStatsStore(args.redis_url, f"bench-router-hot-{os.getpid()}:")
    await store.start()
    return store


async def _drop_keys(url: str) -> None:
    from redis.asyncio import Redis

    redis = Redis.from_url(url)
    try:
        keys = [key async for key in redis.scan_iter(f"bench-router-hot-{os.getpid()}:*")]
        if keys:
            await redis.delete(*keys)
    finally:
        await redis.aclose()


async def _run(args: argparse.Namespace, base_url: str) -> list[float]:
    stats = await _stats_store(args)
    transport: Transport = CannedTransport() if args.transport == "fake" else Http1Transport()
    router = Router(_config(base_url, args.deployments, args.strategy), transport=transport,
                    stats=stats)
    call = _one_call(router, args.stream)
    try:
        await _round(call, args.warmup, args.concurrency)
        gc.collect()
        gc.freeze()  # NOTE: as ``llmux serve`` does once started (ingress.commands)
        results = [await _round(call, args.calls, args.concurrency) for _ in range(args.rounds)]
        if args.profile:
            profiler = cProfile.Profile()
            profiler.enable()
            await _round(call, args.calls, args.concurrency)
            profiler.disable()
            profiler.dump_stats(args.profile)
        return results
    finally:
        await transport.aclose()
        await stats.aclose()
        if args.stats == "redis":
            await _drop_keys(args.redis_url)


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m bench.router_hot", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--calls", type=int, default=50_000, help="calls per round")
    p.add_argument("--warmup", type=int, default=5_000)
    p.add_argument("--rounds", type=int, default=3)
    p.add_argument("--concurrency", type=int, default=1, help="calls in flight at once")
    p.add_argument("--deployments", type=int, default=1, help="deployments in the model group")
    p.add_argument("--strategy", default="simple-shuffle")
    p.add_argument("--stats", choices=("memory", "redis"), default="memory")
    p.add_argument("--redis-url", default="redis://127.0.0.1:6379/0")
    p.add_argument("--transport", choices=("fake", "http1"), default="fake")
    p.add_argument("--stream", action="store_true", help="open_stream + read + aclose per call")
    p.add_argument("--profile", metavar="FILE", help="cProfile one more round into FILE")
    return p


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    with _upstream(args.transport) as base_url:
        results = uvloop.run(_run(args, base_url))
    what = "open_stream+read+aclose" if args.stream else "complete"
    rounds = " ".join(f"{r:.1f}" for r in results)
    print(f"router_hot {what}+price stats={args.stats} transport={args.transport} "
          f"deployments={args.deployments} strategy={args.strategy} c={args.concurrency}: "
          f"{statistics.median(results):.1f} µs CPU per call (rounds: {rounds})")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
