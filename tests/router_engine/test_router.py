"""The router against the fake OpenAI server: selection, retries, fallbacks, streams, usage."""

from __future__ import annotations

import random
from collections.abc import AsyncIterator, Callable, Sequence
from decimal import Decimal
from typing import Any

import orjson
import pytest

from router_engine import (
    MockTransport,
    PriceBook,
    Router,
    Strategy,
    UpstreamRequest,
    UpstreamResponse,
    count_request_prompt_tokens,
    count_text_tokens,
)
from router_engine.deployment import Deployment
from router_engine.stats import StatsSnapshot
from router_engine.strategies import RoutingRequest
from router_engine.upstream.mock import static_response
from schemas.config import LLMuxConfig, ModelEntry, ProviderConfig, RoutingConfig
from schemas.errors import (
    ContextLengthExceeded,
    InvalidRequest,
    ModelNotFound,
    UpstreamError,
    UpstreamProtocolError,
    UpstreamRateLimited,
    UpstreamTimeout,
)
from schemas.token_usage import TokenUsage
from tests.fakes.fixtures import FakeServer
from tests.fakes.openai_server import fake_usage, reply_text

MESSAGES = [{"role": "user", "content": "Tell me a joke"}]
BODY: dict[str, Any] = {"model": "gpt-4o", "messages": MESSAGES}
STREAM_BODY: dict[str, Any] = {**BODY, "stream": True}


def provider(fake: FakeServer, name: str, *models: ModelEntry, **kwargs: Any) -> ProviderConfig:
    return ProviderConfig(name=name, type="openai", api_key=f"sk-{name}", base_url=fake.base_url,
                          models=list(models), **kwargs)


def entry(name: str, upstream: str, order: int | None = None, **kwargs: Any) -> ModelEntry:
    return ModelEntry(name=name, upstream_model=upstream, order=order, **kwargs)


def routing(**kwargs: Any) -> RoutingConfig:
    return RoutingConfig(retry_backoff=0, **kwargs)


@pytest.fixture
async def make_router() -> AsyncIterator[Callable[..., Router]]:
    routers: list[Router] = []

    def make(*providers: ProviderConfig, **routing_kwargs: Any) -> Router:
        config = LLMuxConfig(providers=list(providers), routing=routing(**routing_kwargs))
        router = Router(config, rng=random.Random(7))
        routers.append(router)
        return router

    yield make
    for router in routers:
        await router.aclose()


def upstream_models(fake: FakeServer) -> list[str]:
    return [r["body"]["model"] for r in fake.requests() if "body" in r]


def expected_usage(body: dict[str, Any]) -> TokenUsage:
    usage = fake_usage({**body}, reply_text(body))
    return TokenUsage(prompt_tokens=usage["prompt_tokens"],
                      completion_tokens=usage["completion_tokens"], cached_tokens=2,
                      reasoning_tokens=1)


# -- names --------------------------------------------------------------------------------------


async def test_names_aliases_and_provider_addressing(fake_openai: FakeServer,
                                                     make_router: Callable[..., Router]) -> None:
    router = make_router(
        provider(fake_openai, "a", entry("gpt-4o", "gpt-4o"), entry("mini", "gpt-4o-mini")),
        provider(fake_openai, "b", entry("gpt-4o", "gpt-4o")),
        aliases={"smart": "gpt-4o", "ghost": "missing"},
    )
    assert router.model_names() == ["gpt-4o", "mini", "smart"]
    assert [d.id for d in router.resolve("gpt-4o")] == ["a/gpt-4o", "b/gpt-4o"]
    assert [d.id for d in router.resolve("smart")] == ["a/gpt-4o", "b/gpt-4o"]
    assert [d.id for d in router.resolve("b/gpt-4o")] == ["b/gpt-4o"]
    result = await router.complete(BODY, model="b/gpt-4o")
    assert result.deployment.id == "b/gpt-4o"
    assert fake_openai.requests()[0]["headers"]["Authorization"] == "Bearer sk-b"


async def test_unknown_model(fake_openai: FakeServer, make_router: Callable[..., Router]) -> None:
    router = make_router(provider(fake_openai, "a", entry("gpt-4o", "gpt-4o")),
                         aliases={"ghost": "missing"})
    for name in ("gpt-5", "ghost", "a/gpt-5"):
        with pytest.raises(ModelNotFound) as caught:
            router.resolve(name)
        assert f"'{name}'" in caught.value.message and caught.value.param == "model"
    with pytest.raises(ModelNotFound):
        await router.complete(BODY, model="gpt-5")
    assert fake_openai.requests() == []


# -- non-streaming ------------------------------------------------------------------------------


async def test_complete_returns_upstream_bytes_and_usage(
        fake_openai: FakeServer, make_router: Callable[..., Router]) -> None:
    router = make_router(provider(fake_openai, "a", entry("gpt-4o", "gpt-4o-2024-08-06")))
    result = await router.complete(BODY, model="gpt-4o")
    doc = orjson.loads(result.body)
    assert doc["choices"][0]["message"]["content"] == reply_text(BODY)
    assert doc["model"] == "gpt-4o-2024-08-06"
    assert (result.status, result.attempts, result.fallbacks) == (200, 1, [])
    assert result.usage == expected_usage(BODY)
    assert router.price(result.deployment, result.usage) == PriceBook.from_bundled().price(
        result.deployment, result.usage)


async def test_retry_on_500_moves_to_another_deployment(
        fake_openai: FakeServer, make_router: Callable[..., Router]) -> None:
    router = make_router(provider(fake_openai, "a", entry("gpt-4o", "fail-500", order=1)),
                         provider(fake_openai, "b", entry("gpt-4o", "gpt-4o", order=2)))
    result = await router.complete(BODY, model="gpt-4o")
    assert result.deployment.id == "b/gpt-4o"
    assert result.attempts == 2
    assert upstream_models(fake_openai) == ["fail-500", "gpt-4o"]


async def test_retries_are_bounded_by_retry_count(
        fake_openai: FakeServer, make_router: Callable[..., Router]) -> None:
    router = make_router(provider(fake_openai, "a", entry("gpt-4o", "fail-500")), retry_count=2)
    with pytest.raises(UpstreamError) as caught:
        await router.complete(BODY, model="gpt-4o")
    assert "HTTP 500" in caught.value.message
    assert upstream_models(fake_openai) == ["fail-500"] * 3


async def test_client_errors_are_not_retried(
        fake_openai: FakeServer, make_router: Callable[..., Router]) -> None:
    router = make_router(provider(fake_openai, "a", entry("gpt-4o", "fail-400", order=1)),
                         provider(fake_openai, "b", entry("gpt-4o", "gpt-4o", order=2)))
    with pytest.raises(InvalidRequest) as caught:
        await router.complete(BODY, model="gpt-4o")
    assert caught.value.message == "'messages' must contain at least one message."
    assert upstream_models(fake_openai) == ["fail-400"]


async def test_rate_limit_carries_retry_after(
        fake_openai: FakeServer, make_router: Callable[..., Router]) -> None:
    router = make_router(provider(fake_openai, "a", entry("gpt-4o", "fail-429")), retry_count=0)
    with pytest.raises(UpstreamRateLimited) as caught:
        await router.complete(BODY, model="gpt-4o")
    assert caught.value.headers["Retry-After"] == "7"
    assert caught.value.retry_after_s == 7.0


async def test_fallback_to_another_model_group(
        fake_openai: FakeServer, make_router: Callable[..., Router]) -> None:
    router = make_router(
        provider(fake_openai, "a", entry("gpt-4o", "fail-503"), entry("backup", "gpt-4o-mini")),
        retry_count=1, fallbacks={"gpt-4o": ["missing", "backup"]},
    )
    result = await router.complete(BODY, model="gpt-4o")
    assert result.deployment.id == "a/backup"
    assert result.fallbacks == ["backup"]
    assert result.attempts == 3
    assert upstream_models(fake_openai) == ["fail-503", "fail-503", "gpt-4o-mini"]


async def test_fallbacks_can_be_disabled(
        fake_openai: FakeServer, make_router: Callable[..., Router]) -> None:
    router = make_router(
        provider(fake_openai, "a", entry("gpt-4o", "fail-500"), entry("backup", "gpt-4o-mini")),
        retry_count=0, fallbacks={"gpt-4o": ["backup"]}, fallback_enabled=False,
    )
    with pytest.raises(UpstreamError):
        await router.complete(BODY, model="gpt-4o")
    assert upstream_models(fake_openai) == ["fail-500"]


async def test_context_window_fallback(
        fake_openai: FakeServer, make_router: Callable[..., Router]) -> None:
    router = make_router(
        provider(fake_openai, "a", entry("gpt-4o", "fail-context"), entry("big", "gpt-4.1")),
        context_window_fallbacks={"gpt-4o": ["big"]},
    )
    result = await router.complete(BODY, model="gpt-4o")
    assert result.deployment.model_group == "big" and result.fallbacks == ["big"]
    assert upstream_models(fake_openai) == ["fail-context", "gpt-4.1"]
    plain = make_router(provider(fake_openai, "a", entry("gpt-4o", "fail-context")))
    with pytest.raises(ContextLengthExceeded):
        await plain.complete(BODY, model="gpt-4o")


async def test_missing_usage_is_counted_locally(
        fake_openai: FakeServer, make_router: Callable[..., Router]) -> None:
    router = make_router(provider(fake_openai, "a", entry("gpt-4o", "no-usage")))
    result = await router.complete(BODY, model="gpt-4o")
    assert result.usage == TokenUsage(
        prompt_tokens=count_request_prompt_tokens(BODY, "no-usage"),
        completion_tokens=count_text_tokens(reply_text(BODY), "no-usage"),
        is_estimated=True,
    )


async def test_upstream_timeout_is_retried(
        fake_openai: FakeServer, make_router: Callable[..., Router]) -> None:
    router = make_router(
        provider(fake_openai, "a", entry("gpt-4o", "slow", order=1), timeout="200ms",
                 headers={"x-fake-delay": "3"}),
        provider(fake_openai, "b", entry("gpt-4o", "gpt-4o", order=2)),
    )
    result = await router.complete(BODY, model="gpt-4o")
    assert result.deployment.id == "b/gpt-4o" and result.attempts == 2


# -- injection ----------------------------------------------------------------------------------


async def test_injected_transport_and_strategy_are_used(fake_openai: FakeServer) -> None:
    seen: list[str] = []

    async def handler(request: UpstreamRequest) -> UpstreamResponse:
        seen.append(orjson.loads(request.body or b"")["model"])
        return static_response(200, fake_openai_body())

    class Last(Strategy):
        name = "last"

        def choose(self, candidates: Sequence[Deployment], stats: StatsSnapshot,
                   rng: random.Random, request: RoutingRequest) -> Deployment:
            return candidates[-1]

    config = LLMuxConfig(providers=[
        provider(fake_openai, "a", entry("gpt-4o", "one")),
        provider(fake_openai, "b", entry("gpt-4o", "two")),
    ])
    router = Router(config, transport=MockTransport(handler), strategy=Last())
    result = await router.complete(BODY, model="gpt-4o")
    assert seen == ["two"] and result.deployment.id == "b/gpt-4o"
    assert fake_openai.requests() == []
    await router.aclose()


def fake_openai_body() -> bytes:
    return orjson.dumps({"id": "x", "object": "chat.completion", "choices": [],
                         "usage": {"prompt_tokens": 1, "completion_tokens": 2}})


async def test_mock_provider_needs_no_network() -> None:
    config = LLMuxConfig(providers=[ProviderConfig(name="mock", type="mock",
                                                   models=["gpt-4o-mini"])])
    router = Router(config)
    result = await router.complete(BODY, model="gpt-4o-mini")
    assert not result.usage.is_estimated and result.usage.completion_tokens > 0
    cost = router.price(result.deployment, result.usage)
    assert cost.price_known and cost.cost_micros > 0
    call = await router.open_stream(STREAM_BODY, model="gpt-4o-mini")
    frames = [frame async for frame in call]
    await call.aclose()
    assert frames[-1] == b"data: [DONE]\n\n" and call.is_complete
    assert call.usage == result.usage
    await router.aclose()


# -- streaming ----------------------------------------------------------------------------------


async def collect(call: Any) -> list[bytes]:
    return [frame async for frame in call]


async def test_stream_relays_frames_and_captures_usage(
        fake_openai: FakeServer, make_router: Callable[..., Router]) -> None:
    router = make_router(provider(fake_openai, "a", entry("gpt-4o", "gpt-4o")))
    call = await router.open_stream(STREAM_BODY, model="gpt-4o")
    assert call.ttft_ms is not None and call.ttft_ms >= 0
    frames = await collect(call)
    await call.aclose()
    assert all(f.startswith(b"data: ") and f.endswith(b"\n\n") for f in frames)
    assert frames[-1] == b"data: [DONE]\n\n"
    assert not any(b'"choices":[]' in f for f in frames), "client did not ask for usage"
    text = "".join(orjson.loads(f[6:])["choices"][0]["delta"].get("content") or ""
                   for f in frames[:-1])
    assert text == reply_text(STREAM_BODY)
    assert call.is_complete and call.usage == expected_usage(STREAM_BODY)
    assert (call.attempts, call.fallbacks, call.deployment.id) == (1, [], "a/gpt-4o")
    sent = fake_openai.requests()[0]["body"]
    assert sent["stream_options"] == {"include_usage": True}


async def test_stream_forwards_usage_chunk_when_asked(
        fake_openai: FakeServer, make_router: Callable[..., Router]) -> None:
    router = make_router(provider(fake_openai, "a", entry("gpt-4o", "gpt-4o")))
    body = {**STREAM_BODY, "stream_options": {"include_usage": True}}
    call = await router.open_stream(body, model="gpt-4o")
    frames = await collect(call)
    await call.aclose()
    usage_frames = [orjson.loads(f[6:]) for f in frames if b'"choices":[]' in f]
    assert len(usage_frames) == 1
    assert usage_frames[0]["usage"]["prompt_tokens"] == expected_usage(body).prompt_tokens


@pytest.mark.parametrize("mode", ["crlf", "split"])
async def test_stream_framing_variants(mode: str, fake_openai: FakeServer,
                                       make_router: Callable[..., Router]) -> None:
    router = make_router(provider(fake_openai, "a", entry("gpt-4o", "gpt-4o"),
                                  headers={"x-fake-mode": mode}))
    call = await router.open_stream(STREAM_BODY, model="gpt-4o")
    frames = await collect(call)
    await call.aclose()
    assert call.is_complete and call.usage == expected_usage(STREAM_BODY)
    assert len(frames) == 7  # role, 4 content chunks, finish, [DONE] (usage chunk hidden)


async def test_stream_retried_before_the_first_frame(
        fake_openai: FakeServer, make_router: Callable[..., Router]) -> None:
    router = make_router(provider(fake_openai, "a", entry("gpt-4o", "fail-500", order=1)),
                         provider(fake_openai, "b", entry("gpt-4o", "gpt-4o", order=2)))
    call = await router.open_stream(STREAM_BODY, model="gpt-4o")
    await collect(call)
    await call.aclose()
    assert call.deployment.id == "b/gpt-4o" and call.attempts == 2 and call.is_complete


async def test_stream_break_raises_with_partial_usage(
        fake_openai: FakeServer, make_router: Callable[..., Router]) -> None:
    router = make_router(provider(fake_openai, "a", entry("gpt-4o", "break-midstream")))
    call = await router.open_stream(STREAM_BODY, model="gpt-4o")
    frames: list[bytes] = []
    with pytest.raises(UpstreamProtocolError):
        async for frame in call:
            frames.append(frame)
    await call.aclose()
    assert len(frames) == 3 and not call.is_complete
    streamed = "".join(orjson.loads(f[6:])["choices"][0]["delta"].get("content") or ""
                       for f in frames)
    assert streamed and reply_text(STREAM_BODY).startswith(streamed)
    assert call.usage == TokenUsage(
        prompt_tokens=count_request_prompt_tokens(STREAM_BODY, "break-midstream"),
        completion_tokens=count_text_tokens(streamed, "break-midstream"),
        is_estimated=True,
    )


async def test_stream_without_usage_is_counted_locally(
        fake_openai: FakeServer, make_router: Callable[..., Router]) -> None:
    router = make_router(provider(fake_openai, "a", entry("gpt-4o", "no-usage")))
    call = await router.open_stream(STREAM_BODY, model="gpt-4o")
    await collect(call)
    await call.aclose()
    assert call.is_complete
    assert call.usage == TokenUsage(
        prompt_tokens=count_request_prompt_tokens(STREAM_BODY, "no-usage"),
        completion_tokens=count_text_tokens(reply_text(STREAM_BODY), "no-usage"),
        is_estimated=True,
    )


async def test_stream_error_event_and_stall_raise(
        fake_openai: FakeServer, make_router: Callable[..., Router]) -> None:
    router = make_router(
        provider(fake_openai, "a", entry("broken", "error-midstream"),
                 entry("stalled", "stall"), stream_stall_timeout="200ms",
                 headers={"x-fake-delay": "3"}),
        retry_count=0,
    )
    call = await router.open_stream({**STREAM_BODY, "model": "broken"}, model="broken")
    with pytest.raises(UpstreamError) as caught:
        await collect(call)
    assert "The model crashed." in caught.value.message
    await call.aclose()
    call = await router.open_stream({**STREAM_BODY, "model": "stalled"}, model="stalled")
    with pytest.raises(UpstreamTimeout):
        await collect(call)
    await call.aclose()
    assert not call.is_complete and call.usage.is_estimated


async def test_closing_a_stream_cancels_the_upstream_call(
        fake_openai: FakeServer, make_router: Callable[..., Router]) -> None:
    router = make_router(provider(
        fake_openai, "a", entry("gpt-4o", "gpt-4o", input_cost_per_mtok=Decimal("1")),
        headers={"x-fake-chunks": "200", "x-fake-interval": "0.02", "x-fake-tag": "router-close"},
    ))
    call = await router.open_stream(STREAM_BODY, model="gpt-4o")
    iterator = call.__aiter__()
    await anext(iterator)
    await anext(iterator)
    await call.aclose()
    assert await fake_openai.wait_for_event("router-close") == ["client_gone"]
    assert not call.is_complete
    assert call.usage.is_estimated and call.usage.completion_tokens >= 0
