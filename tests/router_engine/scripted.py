"""A scripted OpenAI upstream behind ``MockTransport``, and a router built on it with a fake clock.

The upstream answers in OpenAI's wire format (JSON, or SSE with a usage chunk and ``[DONE]``). Per
upstream model name a test sets a status, a delay, or holds streams open after their first frame.
"""

from __future__ import annotations

import asyncio
import random
from collections.abc import AsyncGenerator, Awaitable, Callable
from typing import Any

import orjson

from router_engine import MemoryStatsStore, MockTransport, Router, UpstreamRequest, UpstreamResponse
from router_engine.upstream.mock import static_response
from schemas.config import LLMuxConfig, ModelEntry, ProviderConfig, RoutingConfig
from schemas.errors import UpstreamProtocolError

T0 = 1_900_000_025.0
"""Five seconds into a calendar minute."""
USAGE = {"prompt_tokens": 10, "completion_tokens": 5, "total_tokens": 15}
BODY: dict[str, Any] = {"model": "m", "messages": [{"role": "user", "content": "hi"}]}
STREAM_BODY: dict[str, Any] = {**BODY, "stream": True}


class FakeClock:
    def __init__(self, now: float = T0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


def _frame(doc: dict[str, Any]) -> bytes:
    return b"data: " + orjson.dumps(doc) + b"\n\n"


def _chunk(model: str, delta: dict[str, Any], finish: str | None = None) -> bytes:
    choice = {"index": 0, "delta": delta, "finish_reason": finish}
    return _frame({"id": "c1", "object": "chat.completion.chunk", "model": model,
                   "choices": [choice]})


class ScriptedUpstream:
    """What each upstream model does; every call's upstream model is logged in ``calls``."""

    def __init__(self) -> None:
        self.calls: list[str] = []
        self.status: dict[str, int] = {}
        self.delay_s: dict[str, float] = {}
        self.break_after_first: set[str] = set()
        self.holds: dict[str, asyncio.Event] = {}
        """Streams of these models pause after their first frame until the event is set."""
        self.bodies: list[dict[str, Any]] = []

    async def handle(self, request: UpstreamRequest) -> UpstreamResponse:
        body = orjson.loads(request.body or b"{}")
        model = body["model"]
        self.calls.append(model)
        self.bodies.append(body)
        if model in self.delay_s:
            await asyncio.sleep(self.delay_s[model])
        status = self.status.get(model, 200)
        if status != 200:
            error = {"error": {"message": f"scripted {status}", "type": "server_error",
                               "param": None, "code": None}}
            return static_response(status, orjson.dumps(error))
        if request.is_streaming:
            chunks = self._stream(model)
            return UpstreamResponse(200, {}, chunks, chunks.aclose)
        doc = {"id": "c1", "object": "chat.completion", "model": model, "usage": USAGE,
               "choices": [{"index": 0, "finish_reason": "stop",
                            "message": {"role": "assistant", "content": f"from {model}"}}]}
        return static_response(200, orjson.dumps(doc))

    async def _stream(self, model: str) -> AsyncGenerator[bytes, None]:
        yield _chunk(model, {"role": "assistant", "content": "from "})
        if model in self.break_after_first:
            raise UpstreamProtocolError(f"The upstream for {model} broke off its response.")
        hold = self.holds.get(model)
        if hold is not None:
            await hold.wait()
        yield _chunk(model, {"content": model})
        yield _chunk(model, {}, "stop")
        yield _frame({"id": "c1", "object": "chat.completion.chunk", "model": model,
                      "choices": [], "usage": USAGE})
        yield b"data: [DONE]\n\n"


def provider(name: str, *entries: ModelEntry, **kwargs: Any) -> ProviderConfig:
    return ProviderConfig(name=name, type="openai", api_key=f"sk-{name}",
                          base_url="http://upstream.test/v1", models=list(entries), **kwargs)


def entry(upstream: str, group: str = "m", **kwargs: Any) -> ModelEntry:
    return ModelEntry(name=group, upstream_model=upstream, **kwargs)


def one_each(*upstreams: str, group: str = "m", **fields: dict[str, Any]) -> list[ProviderConfig]:
    """One provider per upstream model (``provider name == upstream``), all in ``group``."""
    return [provider(u, entry(u, group, **fields.get(u, {}))) for u in upstreams]


RouterFactory = Callable[..., Router]


def build_router(
    upstream: ScriptedUpstream,
    providers: list[ProviderConfig],
    clock: FakeClock,
    sleeps: list[float] | None = None,
    seed: int = 7,
    **routing: Any,
) -> Router:
    """A router on the scripted upstream, memory stats and ``clock``; backoffs go to ``sleeps``."""
    routing.setdefault("retry_backoff", "100ms")
    config = LLMuxConfig(providers=providers, routing=RoutingConfig(**routing))
    recorded = sleeps if sleeps is not None else []

    async def sleep(seconds: float) -> None:
        recorded.append(seconds)

    sleeper: Callable[[float], Awaitable[None]] = sleep
    return Router(config, transport=MockTransport(upstream.handle), rng=random.Random(seed),
                  stats=MemoryStatsStore(clock=clock), clock=clock, sleep=sleeper)
