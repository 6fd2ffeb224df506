"""The router: model name → deployments → one upstream call, with retries, fallbacks and health.

Built once from config. Each attempt filters the requested model group (tags, circuit breakers,
``max_parallel``, ``order``; ``strategies.filters``), lets the configured strategy
(``routing.strategy``) pick one deployment from the live stats snapshot, and sends the call through
that provider's adapter and transport. Every attempt is reported to ``DeploymentHealth`` (live
stats and the circuit breaker).

Retry rules (one loop, here):

- Only retryable errors are retried: 429, 408, 5xx, connection errors, timeouts and broken
  responses. A caller's error (other 4xx) ends the call at once.
- A deployment that refused the gateway itself (401, 403, 404) is not asked again during the call;
  the call moves on to another deployment of the group.
- A retry goes first to a deployment not yet tried in this call, immediately. Only a retry that must
  reuse a deployment waits: ``retry_backoff * 2**(n - 1)`` for the n-th retry (at most 10 s),
  times a random factor in [0.5, 1) (jitter).
- At most ``1 + routing.retry_count`` attempts per model group; then each group of
  ``routing.fallbacks`` in turn (``routing.context_window_fallbacks`` when the prompt was too
  long), each with the same attempt budget.
- A group with no deployment that can take the call (all cooling down or at ``max_parallel``)
  fails at once with 503 ``no_deployment_available`` and ``Retry-After`` (or moves to its
  fallbacks); it never waits for a cooldown to end.
- A stream is retried only until its first frame arrives: after that, bytes have reached the client.
"""

from __future__ import annotations

import asyncio
import random
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, replace
from typing import Any, TypeVar

from router_engine.cooldown import BreakerPolicy
from router_engine.deployment import Deployment
from router_engine.health import DeploymentHealth, Lease
from router_engine.model_groups import ModelGroups
from router_engine.pricing import Cost, PriceBook
from router_engine.providers import operations
from router_engine.providers.base import Operation, ParsedResponse, ProviderAdapter
from router_engine.providers.registry import build_adapter, build_transport
from router_engine.routing_request import routing_request
from router_engine.stats.base import StatsSnapshot, StatsStore
from router_engine.stats.memory import MemoryStatsStore
from router_engine.strategies import RoutingRequest, Strategy, build_strategy, by_tags, for_attempt
from router_engine.stream_call import StreamCall, estimate_usage, wants_usage_chunk
from router_engine.upstream.base import Transport, UpstreamResponse
from router_engine.upstream.http1_transport import Http1Transport
from schemas.config import LLMuxConfig, duration_seconds
from schemas.errors import (
    ContextLengthExceeded,
    InvalidRequest,
    LLMuxError,
    ModelNotFound,
    ServiceUnavailable,
    UpstreamRateLimited,
    UpstreamUnavailable,
)
from schemas.token_usage import TokenUsage

__all__ = ["CallResult", "Router"]

_T = TypeVar("_T")
_MAX_BACKOFF_S = 10.0
_REFUSED_STATUSES = frozenset({401, 403, 404})
"""The deployment refused the gateway (credential, model name): try another, never it again."""

Attempt = Callable[[Deployment, Lease], Awaitable[_T]]


@dataclass(frozen=True, slots=True)
class CallResult:
    """A finished non-streaming call."""

    body: bytes
    """The OpenAI-format response body, as the upstream sent it (or as translated)."""
    usage: TokenUsage
    deployment: Deployment
    attempts: int
    fallbacks: list[str]
    """Model groups tried after the requested one, in order."""
    status: int


class _Attempts:
    """Bookkeeping of one call across its retries and fallbacks."""

    __slots__ = ("count", "fallbacks")

    def __init__(self) -> None:
        self.count = 0
        self.fallbacks: list[str] = []


def _with_retry_after(error: LLMuxError, headers: Any) -> LLMuxError:
    """Carry the upstream's ``Retry-After`` (seconds) over to a rate-limit or unavailable error."""
    value = headers.get("retry-after") or headers.get("Retry-After")
    if isinstance(error, UpstreamRateLimited | UpstreamUnavailable) and value:
        try:
            seconds = float(value)
        except ValueError:
            return error
        error.retry_after_s = seconds
        error.headers["Retry-After"] = str(max(1, int(seconds + 0.999)))
    return error


def _failure_status(status: int | None) -> int | None:
    """The status that judges a failed attempt: an error status, else None (no usable response)."""
    return status if status is not None and status >= 400 else None


class Router:
    """Routes OpenAI-format chat calls to the configured deployments.

    Args:
        config: the gateway config (providers, models, routing).
        transport: carries every non-mock call; by default a shared ``Http1Transport`` that
            the router owns and closes in ``aclose``.
        rng: the random source of the strategy and the backoff jitter (seed it in tests).
        strategy: picks one deployment among candidates; ``routing.strategy`` by default.
        prices: the price table; the bundled one by default.
        stats: live stats; by default this process's memory. The caller starts and closes it.
        clock: wall-clock seconds for cooldowns (the stats store must share it).
        sleep: awaited for each backoff (tests record it instead of waiting).
    """

    def __init__(
        self,
        config: LLMuxConfig,
        *,
        transport: Transport | None = None,
        rng: random.Random | None = None,
        strategy: Strategy | None = None,
        prices: PriceBook | None = None,
        stats: StatsStore | None = None,
        clock: Callable[[], float] = time.time,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    ) -> None:
        routing = self._routing = config.routing
        self._backoff_s = duration_seconds(routing.retry_backoff)
        self._rng = rng or random.Random()
        self._sleep = sleep
        self._prices = prices or PriceBook.from_bundled()
        self.strategy = strategy or build_strategy(
            routing.strategy, price_lookup=self._prices.io_rates,
            latency_buffer=routing.latency_buffer,
        )
        self._owned_transport = None if transport is not None else Http1Transport()
        shared = transport or self._owned_transport
        assert shared is not None
        self._links: dict[str, tuple[ProviderAdapter, Transport]] = {
            p.name: (build_adapter(p), build_transport(p, shared)) for p in config.providers
        }
        self._models = ModelGroups(config)
        self.health = DeploymentHealth(
            stats if stats is not None else MemoryStatsStore(clock=clock),
            BreakerPolicy.from_config(routing),
            self._models.group_size,
            clock=clock,
        )
        """Live stats and circuit breakers of every deployment (``/control/deployments``)."""

    # -- model names -------------------------------------------------------------------------

    def model_names(self) -> list[str]:
        """Public model names: every model group, then every alias of an existing group."""
        return self._models.model_names()

    def deployments(self) -> list[Deployment]:
        """Every configured deployment, then those made for wildcard names so far."""
        return self._models.deployments()

    def resolve(self, model: str) -> list[Deployment]:
        """The deployments that may serve ``model``: a group, an alias, ``provider/model``, or a
        name a wildcard entry matches (``router_engine.model_groups``).

        Raises:
            ModelNotFound: no deployment serves that name.
        """
        return self._models.resolve(model)[1]

    # -- calls -------------------------------------------------------------------------------

    async def complete(self, body: dict[str, Any], *, model: str,
                       operation: Operation = "chat") -> CallResult:
        """A non-streaming ``operation`` (chat by default) for ``body`` on a deployment of
        ``model``.

        Raises:
            ModelNotFound: unknown model. LLMuxError: the last error once retries are exhausted.
        """
        body, request = routing_request(body, model, is_streaming=False,
                                        count_tokens=self.strategy.needs_token_estimate)
        (parsed, status, usage), deployment, attempts = await self._run(
            model, request, lambda d, lease: self._complete_once(d, body, lease, operation)
        )
        return CallResult(parsed.body, usage, deployment, attempts.count, attempts.fallbacks,
                          status)

    async def open_stream(self, body: dict[str, Any], *, model: str,
                          operation: Operation = "chat") -> StreamCall:
        """A streaming ``operation`` (chat or completions), connected and holding its first frame.

        Raises:
            ModelNotFound: unknown model. LLMuxError: no deployment produced a first frame.
        """
        started = time.perf_counter()
        body, request = routing_request(body, model, is_streaming=True,
                                        count_tokens=self.strategy.needs_token_estimate)
        call, _, attempts = await self._run(
            model, request, lambda d, lease: self._open_once(d, body, started, lease, operation)
        )
        call.attempts = attempts.count
        call.fallbacks = attempts.fallbacks
        return call

    def price(self, deployment: Deployment, usage: TokenUsage) -> Cost:
        """What ``usage`` on ``deployment`` cost, by the router's price table."""
        return self._prices.price(deployment, usage)

    async def aclose(self) -> None:
        """Close the transports the router owns (the injected one belongs to the caller)."""
        if self._owned_transport is not None:
            await self._owned_transport.aclose()

    # -- one attempt ---------------------------------------------------------------------------

    def _request(self, deployment: Deployment, body: dict[str, Any], operation: Operation, *,
                 is_streaming: bool) -> tuple[ProviderAdapter, Awaitable[UpstreamResponse]]:
        """The adapter and the send of the upstream call (awaited by the caller: one coroutine
        layer fewer than a helper that awaits it)."""
        adapter, transport = self._links[deployment.provider_name]
        request = operations.build_request(adapter, operation, body, deployment,
                                           is_streaming=is_streaming)
        return adapter, transport.send(request)

    @staticmethod
    async def _upstream_error(adapter: ProviderAdapter, response: UpstreamResponse
                              ) -> LLMuxError:
        """The gateway error for a non-2xx upstream response (its body read)."""
        data = await response.read()
        return _with_retry_after(adapter.parse_error(response.status, data), response.headers)

    async def _complete_once(self, deployment: Deployment, body: dict[str, Any], lease: Lease,
                             operation: Operation = "chat"
                             ) -> tuple[ParsedResponse, int, TokenUsage]:
        adapter, sending = self._request(deployment, body, operation, is_streaming=False)
        response = await sending
        status = lease.status = response.status
        if not 200 <= status < 300:
            raise await self._upstream_error(adapter, response)
        parsed = operations.parse_response(adapter, operation, await response.read(),
                                           deployment, body)
        usage = parsed.usage or estimate_usage(body, deployment.upstream_model, parsed.text)
        await lease.finish(ok=True, status=status,
                           tokens=usage.prompt_tokens + usage.completion_tokens)
        return parsed, status, usage

    async def _open_once(self, deployment: Deployment, body: dict[str, Any], started: float,
                         lease: Lease, operation: Operation = "chat") -> StreamCall:
        adapter, sending = self._request(deployment, body, operation, is_streaming=True)
        response = await sending
        status = lease.status = response.status
        if not 200 <= status < 300:
            raise await self._upstream_error(adapter, response)
        try:
            translator = operations.stream_translator(
                adapter, operation, deployment, body,
                forward_usage_chunk=wants_usage_chunk(body),
            )
            call = StreamCall(deployment, response, translator, body, started, lease)
            await call.prefetch()
        except BaseException:
            await response.aclose()
            raise
        return call

    @staticmethod
    async def _attempt_failed(lease: Lease, error: LLMuxError, excluded: set[str]) -> None:
        """Report a failed attempt to health (or not at all, when it was the caller's fault)."""
        if lease.status is None and isinstance(error, InvalidRequest):
            # NOTE: the adapter refused the request before sending it (it cannot be
            # translated, or the provider lacks the operation): the caller's fault, not the
            # deployment's, so it must not count toward the breaker.
            lease.abandon()
            return
        if lease.status in _REFUSED_STATUSES:
            excluded.add(lease.deployment.id)
        await lease.finish(ok=False, status=_failure_status(lease.status))

    # -- retries and fallbacks -----------------------------------------------------------------

    async def _run(self, model: str, request: RoutingRequest, attempt: Attempt[_T]
                   ) -> tuple[_T, Deployment, _Attempts]:
        group, candidates = self._models.resolve_shared(model)
        attempts = _Attempts()
        try:
            value, deployment = await self._try_group(group, candidates, request, attempt,
                                                      attempts)
            return value, deployment, attempts
        except ContextLengthExceeded:
            chain = self._routing.context_window_fallbacks.get(group, [])
            if not chain:
                raise
        except LLMuxError as error:
            chain = self._routing.fallbacks.get(group, []) if self._routing.fallback_enabled else []
            if not (error.retryable and chain):
                raise
        value, deployment = await self._try_fallbacks(chain, request, attempt, attempts)
        return value, deployment, attempts

    async def _try_fallbacks(self, chain: Sequence[str], request: RoutingRequest,
                             attempt: Attempt[_T], attempts: _Attempts) -> tuple[_T, Deployment]:
        last: LLMuxError | None = None
        for name in chain:
            try:
                group, candidates = self._models.resolve_shared(name)
            except ModelNotFound as error:
                last = last or error
                continue
            attempts.fallbacks.append(name)
            try:
                return await self._try_group(group, candidates, request, attempt, attempts)
            except LLMuxError as error:
                if not (error.retryable or isinstance(error, ContextLengthExceeded)):
                    raise
                last = error
        assert last is not None
        raise last

    async def _try_group(self, group: str, candidates: Sequence[Deployment],
                         request: RoutingRequest, attempt: Attempt[_T], attempts: _Attempts
                         ) -> tuple[_T, Deployment]:
        # PERF: the request is copied only when the group differs (an alias, a fallback), and
        # each attempt runs inline here rather than in a helper coroutine per attempt.
        if request.model_group != group:
            request = replace(request, model_group=group)
        tried: set[str] = set()
        excluded: set[str] = set()
        last: LLMuxError | None = None
        for retry in range(1 + self._routing.retry_count):
            pool, snapshot = self._pool(candidates, request, tried, excluded)
            if not pool:
                raise last or self._unavailable(candidates, request)
            if self.strategy.uses_round_robin and len(pool) > 1:
                ticket = await self.health.stats.next_round_robin(group)
                deployment = self.strategy.choose(
                    pool, snapshot, self._rng, replace(request, round_robin_ticket=ticket))
            else:
                deployment = self.strategy.choose(pool, snapshot, self._rng, request)
            if deployment.id in tried:
                await self._back_off(retry)
            tried.add(deployment.id)
            attempts.count += 1
            lease = self.health.start(deployment)
            try:
                return await attempt(deployment, lease), deployment
            except LLMuxError as error:
                await self._attempt_failed(lease, error, excluded)
                if not error.retryable:
                    raise
                last = error
            except BaseException:
                lease.abandon()
                raise
        assert last is not None
        raise last

    def _pool(self, candidates: Sequence[Deployment], request: RoutingRequest,
              tried: set[str], excluded: set[str]) -> tuple[list[Deployment], StatsSnapshot]:
        """Who this attempt may go to (empty: nobody can take it now), and the stats snapshot
        the strategy chooses by."""
        if request.tags and not by_tags(candidates, request.tags):
            raise InvalidRequest(
                f"No deployment of '{request.model_group}' carries the tags {list(request.tags)}.",
                param="tags", code="no_deployment_for_tags",
            )
        snapshot = self.health.snapshot()
        pool = for_attempt(candidates, snapshot, request, now_s=self.health.now(), tried=tried,
                           excluded=excluded)
        return pool, snapshot

    async def _back_off(self, retry: int) -> None:
        """Wait before reusing a deployment: exponential in the retry number, with jitter."""
        if self._backoff_s <= 0:
            return
        delay = min(_MAX_BACKOFF_S, self._backoff_s * 2 ** (retry - 1))
        await self._sleep(delay * (0.5 + 0.5 * self._rng.random()))

    def _unavailable(self, candidates: Sequence[Deployment], request: RoutingRequest
                     ) -> ServiceUnavailable:
        snapshot = self.health.snapshot()
        now = self.health.now()
        tagged = by_tags(candidates, request.tags)
        cooling = [c.until_s for d in tagged if (c := snapshot.get(d.id).cooldown) is not None]
        ends = [until for until in cooling if until > now]
        return ServiceUnavailable(
            f"No deployment of '{request.model_group}' can take the call now "
            f"({len(cooling)} of {len(tagged)} cooling down, the rest busy). Retry later.",
            retry_after_s=max(1.0, min(ends) - now) if ends else 1.0,
            code="no_deployment_available",
        )
