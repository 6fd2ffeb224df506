"""The admission gate on the chat service: reserve before the call, refuse or settle after.

Real components throughout: the router (the in-process mock provider, with explicit prices), the
memory admission, the control state with its keys and limits, the accounting and the outbox on an
in-memory ``LocalBus``, read back as the ledger would read it. Only the LLM provider is fake.
"""

from __future__ import annotations

import asyncio
import math
from collections.abc import AsyncGenerator, AsyncIterator
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from prometheus_client import generate_latest

from ingress.accounting import Accounting, RequestScope
from ingress.admission import Admission, MemoryAdmission
from ingress.admission_estimate import ReservationEstimator, fallback_groups
from ingress.admission_gate import AdmissionGate
from ingress.auth import Caller, KeyRegistry
from ingress.chat import ChatService
from ingress.control import ControlState
from ingress.metrics import GatewayMetrics
from ledger import LocalBus, Outbox
from router_engine import Router, count_request_prompt_tokens, count_text_tokens
from schemas.config import LLMuxConfig, MockOptions, ModelEntry, ProviderConfig, RoutingConfig
from schemas.errors import BudgetExceeded, LLMuxError, RateLimited, UpstreamError
from schemas.events import (
    BudgetSoftLimitCrossed,
    EndUserState,
    EntityLimits,
    EventPayload,
    KeyState,
    RequestRejected,
    UsageRecorded,
    decode_envelope,
    decode_payload,
)

T0 = datetime(2026, 3, 1, 9, 30, tzinfo=UTC)
MESSAGES = [{"role": "user", "content": "word " * 40}]
MAX_TOKENS = 10


def config(tmp_path: Path) -> LLMuxConfig:
    mock = MockOptions(latency="20ms", stream_chunks=4)
    priced: dict[str, Any] = {"input_cost_per_mtok": Decimal(100),
                              "output_cost_per_mtok": Decimal(200)}
    return LLMuxConfig(
        deployment={"data_dir": str(tmp_path)},  # type: ignore[arg-type]  # msgspec converts
        providers=[
            ProviderConfig(name="mk", type="mock", mock=mock, models=[
                ModelEntry(name="exact", **priced),
                ModelEntry(name="cheap", input_cost_per_mtok=Decimal("0.15"),
                           output_cost_per_mtok=Decimal("0.6")),
                ModelEntry(name="pricey", input_cost_per_mtok=Decimal(300),
                           output_cost_per_mtok=Decimal(600)),
                ModelEntry(name="embed", **priced)]),
            ProviderConfig(name="dead", type="vllm", base_url="http://127.0.0.1:9/v1",
                           connect_timeout="1s", models=[ModelEntry(name="unreachable", **priced)]),
        ],
        routing=RoutingConfig(fallbacks={"cheap": ["pricey"]}, retry_count=0),
    )


class Harness:
    """The services wired as ``create_app`` wires them, plus the events they published."""

    def __init__(self, config: LLMuxConfig, outbox: Outbox, bus: LocalBus,
                 admission: Admission | None = None, state: ControlState | None = None) -> None:
        self.bus, self.outbox = bus, outbox
        self.router = Router(config)
        self.state = state or ControlState()
        self.registry = KeyRegistry(b"test-secret", None, self.state)
        self.admission = admission or MemoryAdmission()
        self.metrics = GatewayMetrics(outbox, self.admission)
        self.accounting = Accounting(outbox, self.metrics)
        self.estimator = ReservationEstimator(self.router, fallback_groups(config.routing), 4096)
        self.gate = AdmissionGate(self.admission, self.state, self.estimator, self.accounting)
        self.chat = ChatService(self.router, self.accounting, self.gate)
        self._requests = 0

    def key(self, key_id: str, **limits: Any) -> Caller:
        raw = f"sk-raw-{key_id}"
        self.state.put(KeyState(key_id=key_id, key_hash=self.registry.hash_key(raw),
                                key_prefix=raw[:8], created_at=T0,
                                limits=EntityLimits(**limits)))
        self.state.generation += 1
        return self.registry.authenticate(raw)

    def scope(self, caller: Caller, model: str = "exact", *, stream: bool = False,
              user: str | None = None) -> RequestScope:
        self._requests += 1
        return RequestScope(request_id=f"req-{self._requests}", caller=caller,
                            endpoint="chat.completions", model_requested=model,
                            is_streaming=stream, end_user=user)

    async def call(self, caller: Caller, model: str = "exact", **extra: Any) -> RequestScope:
        scope = self.scope(caller, model, user=extra.get("user"))
        body = {"model": model, "messages": MESSAGES, "max_tokens": MAX_TOKENS, **extra}
        await self.chat.complete(scope, body)
        return scope

    async def spent(self, scope: str, caller: Caller, model: str = "exact") -> tuple[int, int]:
        limit = next(x for x in self.state.limits_for(caller, model) if x.scope == scope)
        await self.gate.wait_settled()  # NOTE: Redis settlements land after the response
        found = await self.admission.budget_spend(scope, limit.budget_window_start(
            datetime.now(UTC)))
        return found.spent_micros, found.reserved_micros

    async def events(self, minimum: int) -> list[EventPayload]:
        follower = await self.bus.follow("llmux.>", from_start=True)
        found: list[EventPayload] = []
        for _ in range(50):
            found += [decode_payload(decode_envelope(d.data))
                      for d in await follower.fetch(1000, timeout_s=0.05)]
            if len(found) >= minimum:
                break
        await follower.aclose()
        return found


@pytest.fixture
async def harness(tmp_path: Path) -> AsyncIterator[Harness]:
    bus = LocalBus(None)
    await bus.start()
    outbox = Outbox(bus, str(tmp_path / "spill"), flush_interval_s=0.001)
    await outbox.start()
    built = Harness(config(tmp_path), outbox, bus)
    try:
        yield built
    finally:
        await built.gate.aclose()
        await built.router.aclose()
        await outbox.aclose()
        await bus.aclose()


def prompt_tokens(model: str = "exact") -> int:
    return count_request_prompt_tokens({"messages": MESSAGES}, model)


# -- the reservation ----------------------------------------------------------------------------


def test_the_reservation_is_the_maximum_cost_at_the_priciest_fallback(harness: Harness) -> None:
    estimate = harness.estimator.estimate
    prompt = prompt_tokens()
    body = {"messages": MESSAGES, "max_tokens": MAX_TOKENS}
    assert estimate("exact", body) == (prompt + 10, prompt * 100 + 10 * 200)
    # cheap falls back to pricey: the reservation is priced there
    assert estimate("cheap", body) == (prompt + 10, prompt * 300 + 10 * 600)
    assert estimate("exact", {**body, "n": 3}) == (prompt + 30, prompt * 100 + 30 * 200)
    assert estimate("exact", {"messages": MESSAGES, "max_completion_tokens": 7})[0] == prompt + 7
    # no cap: the default output is reserved against budgets, not against tpm
    assert estimate("exact", {"messages": MESSAGES}) == (prompt, prompt * 100 + 4096 * 200)
    words = count_text_tokens("word " * 5, "embed")
    assert estimate("embed", {"input": ["word " * 5, [1, 2, 3]]}, "embeddings") == (
        words + 3, (words + 3) * 100)


def test_fractional_prices_round_the_reservation_up() -> None:
    config = LLMuxConfig(providers=[ProviderConfig(name="mk", type="mock", models=[
        ModelEntry(name="m", input_cost_per_mtok=Decimal("0.15"),
                   output_cost_per_mtok=Decimal("0.6"))])])
    estimator = ReservationEstimator(Router(config), {}, 0)
    tokens, cost = estimator.estimate("m", {"messages": MESSAGES, "max_tokens": 3})
    exact = Decimal(tokens - 3) * Decimal("0.15") + 3 * Decimal("0.6")
    assert cost == math.ceil(exact) and isinstance(cost, int)


# -- budgets ------------------------------------------------------------------------------------


async def test_a_budget_admits_exactly_n_of_100_concurrent_calls(harness: Harness) -> None:
    reservation = prompt_tokens() * 100 + MAX_TOKENS * 200
    caller = harness.key("k-budget", max_budget_micros=5 * reservation)
    outcomes = await asyncio.gather(*(harness.call(caller) for _ in range(100)),
                                    return_exceptions=True)
    admitted = [o for o in outcomes if isinstance(o, RequestScope)]
    refused = [o for o in outcomes if not isinstance(o, RequestScope)]
    assert len(admitted) == 5
    assert all(isinstance(error, BudgetExceeded) for error in refused)
    assert isinstance(refused[0], BudgetExceeded)
    assert refused[0].headers["x-should-retry"] == "false"
    spent, reserved = await harness.spent("key:k-budget", caller)
    assert 0 < spent <= 5 * reservation and reserved == 0
    events = await harness.events(5 * 2 + 95)
    costs = [e.cost_micros for e in events if isinstance(e, UsageRecorded)]
    assert sum(costs) == spent
    reasons = [e.reason for e in events if isinstance(e, RequestRejected)]
    assert reasons == ["budget"] * 95
    assert b'llmux_admission_refusals_total{limit="budget"} 95.0' in generate_latest(
        harness.metrics.registry)


async def test_a_stream_settles_what_it_used_however_it_ends(harness: Harness) -> None:
    caller = harness.key("k-stream", max_budget_micros=10**9)
    body = {"model": "exact", "messages": MESSAGES, "max_tokens": MAX_TOKENS, "stream": True}
    scope = harness.scope(caller, stream=True)
    call = await harness.chat.open_stream(scope, body)
    _, reserved = await harness.spent("key:k-stream", caller)
    assert reserved == prompt_tokens() * 100 + MAX_TOKENS * 200  # held while the stream runs
    frames = [frame async for frame in harness.chat.pump(scope, call)]
    assert frames
    spent, reserved = await harness.spent("key:k-stream", caller)
    usage = [e for e in await harness.events(2) if isinstance(e, UsageRecorded)]
    assert reserved == 0 and spent == usage[0].cost_micros > 0

    abandoned = harness.scope(caller, stream=True)
    pump = harness.chat.pump(abandoned, await harness.chat.open_stream(abandoned, body))
    assert isinstance(pump, AsyncGenerator)
    await pump.__anext__()
    await pump.aclose()  # the client went away after the first frame
    spent_after, reserved = await harness.spent("key:k-stream", caller)
    partial = [e for e in await harness.events(4) if isinstance(e, UsageRecorded)][-1]
    assert reserved == 0 and partial.is_partial
    assert spent_after == spent + partial.cost_micros


async def test_a_call_that_fails_upstream_releases_its_reservation(harness: Harness) -> None:
    caller = harness.key("k-fail", max_budget_micros=10**9, rpm_limit=10)
    with pytest.raises(UpstreamError):
        await harness.call(caller, "unreachable")
    assert await harness.spent("key:k-fail", caller, "unreachable") == (0, 0)
    scope = await harness.call(caller)  # the failed call still counted as a request
    assert scope.rate_headers["x-ratelimit-remaining-requests"] == "8"


async def test_soft_budget_crossing_is_one_alert_event_and_a_metric(harness: Harness) -> None:
    caller = harness.key("k-soft", soft_budget_micros=1)
    await harness.call(caller)
    await harness.call(caller)  # past the threshold already: no second alert this window
    alerts = [e for e in await harness.events(5) if isinstance(e, BudgetSoftLimitCrossed)]
    assert len(alerts) == 1
    assert alerts[0].scope == "key:k-soft" and alerts[0].soft_budget_micros == 1
    assert alerts[0].key_id == "k-soft" and alerts[0].projected_spend_micros > 1
    text = generate_latest(harness.metrics.registry)
    assert b'llmux_budget_soft_crossings_total{scope_kind="key"} 1.0' in text


# -- rate limits --------------------------------------------------------------------------------


async def test_rpm_refusal_is_a_rate_limit_error_with_headers(harness: Harness) -> None:
    caller = harness.key("k-rpm", rpm_limit=2, tpm_limit=100_000)
    first = await harness.call(caller)
    assert first.rate_headers["x-ratelimit-limit-requests"] == "2"
    assert first.rate_headers["x-ratelimit-remaining-requests"] == "1"
    assert first.rate_headers["x-ratelimit-limit-tokens"] == "100000"
    await harness.call(caller)
    with pytest.raises(RateLimited) as refused:
        await harness.call(caller)
    headers = refused.value.headers
    assert 1 <= int(headers["Retry-After"]) <= 60
    assert headers["x-ratelimit-remaining-requests"] == "0"
    events = await harness.events(5)
    assert [e.reason for e in events if isinstance(e, RequestRejected)] == ["rate_limit"]


async def test_end_user_limits_apply_to_calls_on_their_behalf(harness: Harness) -> None:
    harness.state.put(EndUserState(end_user_id="alice", created_at=T0,
                                   limits=EntityLimits(rpm_limit=1)))
    harness.state.generation += 1
    caller = harness.key("k-plain")
    await harness.call(caller, user="alice")
    with pytest.raises(RateLimited, match="enduser:alice"):
        await harness.call(caller, user="alice")
    await harness.call(caller)  # not on alice's behalf: not limited


async def test_a_call_without_limits_skips_admission(harness: Harness) -> None:
    scope = await harness.call(Caller.master(harness.state))
    assert scope.reservation is None and scope.rate_headers == {}
    assert isinstance(harness.admission, MemoryAdmission)
    assert harness.admission.tracked_counters() == 0


async def test_a_refused_call_never_reaches_the_router(harness: Harness) -> None:
    caller = harness.key("k-zero", max_budget_micros=0)
    body = {"model": "unreachable", "messages": MESSAGES, "max_tokens": 1}
    with pytest.raises(LLMuxError) as refused:
        await harness.chat.complete(harness.scope(caller, "unreachable"), body)
    assert isinstance(refused.value, BudgetExceeded)  # not the upstream's connect error
