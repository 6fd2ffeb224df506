"""The services behind ``/v1/messages``, ``/v1/responses``, ``/v1/embeddings`` and
``/v1/completions``: what they answer and the events they record.

Real components throughout: the router (mock provider in process, the fake OpenAI server over
HTTP), the accounting, and the outbox on an in-memory ``LocalBus``, read back as the ledger
would read it. Only the LLM provider is fake.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import pytest

from ingress.accounting import Accounting, RequestScope
from ingress.auth import Caller
from ingress.chat import ChatService
from ingress.messages import MessagesService
from ingress.metrics import GatewayMetrics
from ingress.responses import ResponsesService
from ledger import LocalBus, Outbox
from router_engine import Router
from schemas.config import LLMuxConfig, ModelEntry, ProviderConfig
from schemas.events import RequestCompleted, RequestFailed, UsageRecorded, decode_payload
from schemas.events.envelope import decode_envelope
from schemas.openai import CompletionRequest, EmbeddingRequest
from tests.fakes.fixtures import FakeServer, start_fake_server
from tests.router_engine.translation.golden import sse_events

Event = RequestCompleted | RequestFailed | UsageRecorded


def _master_caller() -> Caller:
    """The master key's caller (``Caller.master()`` once roles exist, ``is_admin`` before)."""
    master = getattr(Caller, "master", None)
    return master() if master is not None else Caller(is_admin=True)  # type: ignore[call-arg]


class Surface:
    """The services wired as ``create_app`` wires them, and the events they published."""

    def __init__(self, router: Router, outbox: Outbox, bus: LocalBus) -> None:
        self.router, self.outbox, self.bus = router, outbox, bus
        self.chat = ChatService(router, Accounting(outbox, GatewayMetrics(outbox)))
        self.messages = MessagesService(self.chat, router)
        self.responses = ResponsesService(self.chat)
        self.caller = _master_caller()

    async def events(self, count: int) -> list[Event]:
        """The first ``count`` request and usage events published."""
        follower = await self.bus.follow("llmux.>", from_start=True)
        found: list[Event] = []
        for _ in range(50):
            for delivery in await follower.fetch(100, timeout_s=0.1):
                payload = decode_payload(decode_envelope(delivery.data))
                if isinstance(payload, RequestCompleted | RequestFailed | UsageRecorded):
                    found.append(payload)
            if len(found) >= count:
                break
        await follower.aclose()
        return found


@pytest.fixture(scope="module")
def fake_upstream() -> Iterator[FakeServer]:
    server = start_fake_server()
    yield server
    server.stop()


@pytest.fixture
async def surface(tmp_path: Path, fake_upstream: FakeServer) -> AsyncIterator[Surface]:
    config = LLMuxConfig(providers=[
        ProviderConfig(name="mk", type="mock", models=["mock-gpt", "mock-embed"]),
        ProviderConfig(name="vl", type="vllm", base_url=fake_upstream.base_url, models=[
            ModelEntry(name="vl-broken", upstream_model="break-midstream"),
            ModelEntry(name="vl-embed", upstream_model="BAAI/bge-small-en")]),
    ])
    bus = LocalBus(None)
    await bus.start()
    outbox = Outbox(bus, str(tmp_path / "spill"), flush_interval_s=0.001)
    await outbox.start()
    router = Router(config)
    surface = Surface(router, outbox, bus)
    try:
        yield surface
    finally:
        await router.aclose()
        await outbox.aclose()
        await bus.aclose()


async def _drain(frames: AsyncIterator[Any]) -> bytes:
    return b"".join([frame.serialize() async for frame in frames])


async def test_messages_answer_anthropic_and_record_usage_with_cost(surface: Surface) -> None:
    body = {"model": "mock-gpt", "max_tokens": 100,
            "messages": [{"role": "user", "content": "Hello"}]}
    scope, chat_body = surface.messages.begin("req-m1", surface.caller, body)
    message, deployment, cost = await surface.messages.create(scope, chat_body)
    assert message["type"] == "message" and message["content"][0]["text"].endswith("Hello")
    assert deployment == "mk/mock-gpt" and cost.price_known and cost.cost_micros > 0
    completed, usage = sorted(await surface.events(2), key=lambda e: type(e).__name__)
    assert isinstance(completed, RequestCompleted) and isinstance(usage, UsageRecorded)
    assert completed.endpoint == "messages" and usage.cost_micros == cost.cost_micros
    assert usage.prompt_tokens == message["usage"]["input_tokens"]
    assert usage.completion_tokens == message["usage"]["output_tokens"]


async def test_a_streamed_response_records_the_same_usage_as_an_unstreamed_one(
        surface: Surface) -> None:
    body: dict[str, Any] = {"model": "mock-gpt", "input": "Tell me a story"}
    scope, chat_body = surface.responses.begin("req-r1", surface.caller, body)
    response, _, cost = await surface.responses.create(scope, body, chat_body)
    assert response["id"] == "resp_req-r1" and response["status"] == "completed"
    streamed = {**body, "stream": True}
    scope, chat_body = surface.responses.begin("req-r2", surface.caller, streamed)
    call = await surface.responses.open_stream(scope, chat_body)
    events = sse_events(await _drain(surface.responses.events(scope, call, streamed)))
    assert events[-1][0] == "response.completed"
    assert events[-1][1]["response"]["usage"] == response["usage"]
    usages = [e for e in await surface.events(4) if isinstance(e, UsageRecorded)]
    assert len(usages) == 2 and usages[0].cost_micros == usages[1].cost_micros == cost.cost_micros
    assert not usages[1].is_partial


async def test_a_broken_translated_stream_ends_with_an_error_and_keeps_partial_usage(
        surface: Surface) -> None:
    body: dict[str, Any] = {"model": "vl-broken", "input": "Tell me a story", "stream": True}
    scope, chat_body = surface.responses.begin("req-b1", surface.caller, body)
    call = await surface.responses.open_stream(scope, chat_body)
    events = sse_events(await _drain(surface.responses.events(scope, call, body)))
    assert [name for name, _ in events][-2:] == ["response.failed", "error"]
    failed, usage = sorted(await surface.events(2), key=lambda e: type(e).__name__)
    assert isinstance(failed, RequestFailed) and failed.endpoint == "responses"
    assert isinstance(usage, UsageRecorded) and usage.is_partial
    assert usage.completion_tokens > 0 and usage.usage_estimated  # counted from what streamed
    assert not usage.price_known and usage.cost_micros == 0  # a name with no list price


async def test_a_client_that_leaves_mid_stream_still_gets_its_usage_recorded(
        surface: Surface) -> None:
    body = {"model": "mock-gpt", "max_tokens": 100, "stream": True,
            "messages": [{"role": "user", "content": "Hello there"}]}
    scope, chat_body = surface.messages.begin("req-d1", surface.caller, body)
    call = await surface.messages.open_stream(scope, chat_body)
    frames = surface.messages.events(scope, call)
    assert b"message_start" in (await anext(frames)).serialize()
    await frames.aclose()  # what Falcon does when the client hangs up
    failed, usage = sorted(await surface.events(2), key=lambda e: type(e).__name__)
    assert isinstance(failed, RequestFailed) and failed.error_code == "client_disconnected"
    assert isinstance(usage, UsageRecorded) and usage.is_partial and usage.prompt_tokens > 0


async def test_embeddings_and_completions_go_through_the_same_accounting(
        surface: Surface) -> None:
    embed = EmbeddingRequest(model="vl-embed", input=["a", "b"])
    scope = surface.chat.begin("req-e1", surface.caller, embed, endpoint="embeddings")
    result, cost = await surface.chat.complete(scope, {"model": "vl-embed", "input": ["a", "b"]},
                                               "embeddings")
    assert result.usage.prompt_tokens > 0 and not cost.price_known
    text = CompletionRequest(model="mock-gpt", prompt="Once", stream=True)
    scope = surface.chat.begin("req-c1", surface.caller, text, endpoint="completions")
    call = await surface.chat.open_stream(scope, {"model": "mock-gpt", "prompt": "Once",
                                                  "stream": True}, "completions")
    frames = sse_events(await _drain(surface.chat.pump(scope, call)))
    assert frames[-1][1] == "[DONE]" and frames[0][1]["object"] == "text_completion"
    events = await surface.events(4)
    usage = {e.model_requested: e for e in events if isinstance(e, UsageRecorded)}
    assert usage["vl-embed"].prompt_tokens == result.usage.prompt_tokens
    assert usage["mock-gpt"].completion_tokens > 0 and usage["mock-gpt"].price_known
    endpoints = {e.endpoint for e in events if isinstance(e, RequestCompleted)}
    assert endpoints == {"embeddings", "completions"}


async def test_scope_names_the_endpoint(surface: Surface) -> None:
    scope = surface.chat.begin("r", surface.caller, EmbeddingRequest(model="mock-embed",
                                                                     input="x"),
                               endpoint="embeddings")
    assert isinstance(scope, RequestScope) and not scope.is_streaming


async def test_two_requests_with_one_client_request_id_publish_distinct_events(
        surface: Surface) -> None:
    """The request id is the client's ``x-request-id`` when it sends one, so clients can repeat
    it; the bus drops a repeated event id as a duplicate, so the ids must not derive from it."""
    body = {"model": "mock-gpt", "max_tokens": 100,
            "messages": [{"role": "user", "content": "Hello"}]}
    for _ in range(2):
        scope, chat_body = surface.messages.begin("req-reused", surface.caller, body)
        await surface.messages.create(scope, chat_body)
    usages = [e for e in await surface.events(4) if isinstance(e, UsageRecorded)]
    assert len(usages) == 2  # both on the bus: neither was taken for the other's duplicate
