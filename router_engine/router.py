"""The router: model name → deployments → one upstream call, with retries and fallbacks.

Built once from config. Each call picks a deployment of the requested model group (the strategy
seam, ``DeploymentChooser``), sends it through that provider's adapter and transport, and on a
retryable failure (connection, timeout, 429, 5xx...) tries another deployment of the group, up to
``routing.retry_count`` retries, then each model in ``routing.fallbacks`` (or
``routing.context_window_fallbacks`` when the prompt was too long). A stream is retried only
until its first frame arrives: after that, bytes have reached the client.
"""

from __future__ import annotations

import asyncio
import random
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Any, Protocol, TypeVar

from router_engine.deployment import Deployment, deployments_from_config
from router_engine.pricing import Cost, PriceBook
from router_engine.providers.base import ProviderAdapter
from router_engine.providers.registry import build_adapter, build_transport
from router_engine.stream_call import StreamCall, estimate_usage, wants_usage_chunk
from router_engine.upstream.aiohttp_transport import AiohttpTransport
from router_engine.upstream.base import Transport, UpstreamResponse
from schemas.config import LLMuxConfig, duration_seconds
from schemas.errors import (
    ContextLengthExceeded,
    LLMuxError,
    ModelNotFound,
    UpstreamRateLimited,
    UpstreamUnavailable,
)
from schemas.token_usage import TokenUsage

__all__ = ["CallResult", "DeploymentChooser", "Router", "WeightedShuffle"]

_T = TypeVar("_T")
_UNORDERED = 1 << 30


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


class DeploymentChooser(Protocol):
    """The strategy seam: picks one of ``candidates`` (never empty, all equally eligible)."""

    def choose(self, candidates: Sequence[Deployment], rng: random.Random) -> Deployment: ...


class WeightedShuffle:
    """``simple-shuffle``: random, weighted by ``weight``, else ``rpm``, else ``tpm``, else uniform.

    A deployment without the field that weighs the others gets weight 0.
    """

    def choose(self, candidates: Sequence[Deployment], rng: random.Random) -> Deployment:
        for field in ("weight", "rpm", "tpm"):
            weights = [getattr(d, field) or 0 for d in candidates]
            if any(weights):
                return rng.choices(candidates, weights=weights)[0]
        return rng.choice(candidates)


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


class Router:
    """Routes OpenAI-format chat calls to the configured deployments.

    Args:
        config: the gateway config (providers, models, routing).
        transport: carries every non-mock call; by default a shared ``AiohttpTransport`` that
            the router owns and closes in ``aclose``.
        rng: the random source of the strategy (seed it for reproducible tests).
        strategy: picks one deployment among candidates; weighted shuffle by default.
        prices: the price table; the bundled one by default.
    """

    def __init__(
        self,
        config: LLMuxConfig,
        *,
        transport: Transport | None = None,
        rng: random.Random | None = None,
        strategy: DeploymentChooser | None = None,
        prices: PriceBook | None = None,
    ) -> None:
        self._routing = config.routing
        self._backoff_s = duration_seconds(config.routing.retry_backoff)
        self._rng = rng or random.Random()
        self._strategy = strategy or WeightedShuffle()
        self._prices = prices or PriceBook.from_bundled()
        self._owned_transport = None if transport is not None else AiohttpTransport()
        shared = transport or self._owned_transport
        assert shared is not None
        self._links: dict[str, tuple[ProviderAdapter, Transport]] = {
            p.name: (build_adapter(p), build_transport(p, shared)) for p in config.providers
        }
        self._groups: dict[str, list[Deployment]] = {}
        self._by_id: dict[str, Deployment] = {}
        for deployment in deployments_from_config(config):
            self._groups.setdefault(deployment.model_group, []).append(deployment)
            self._by_id[deployment.id] = deployment

    # -- model names -------------------------------------------------------------------------

    def model_names(self) -> list[str]:
        """Public model names: every model group, then every alias of an existing group."""
        aliases = [a for a, group in self._routing.aliases.items() if group in self._groups]
        return [*self._groups, *(a for a in aliases if a not in self._groups)]

    def resolve(self, model: str) -> list[Deployment]:
        """The deployments that may serve ``model`` (a group, an alias or ``provider/model``).

        Raises:
            ModelNotFound: no deployment serves that name.
        """
        group = self._groups.get(model)
        if group is None:
            group = self._groups.get(self._routing.aliases.get(model, ""))
        if group is None and model in self._by_id:
            group = [self._by_id[model]]
        if not group:
            raise ModelNotFound(
                f"The model '{model}' does not exist or is not served by this gateway.",
                param="model",
            )
        return list(group)

    def _group_name(self, model: str) -> str:
        if model in self._groups:
            return model
        alias = self._routing.aliases.get(model)
        return alias if alias is not None else self._by_id[model].model_group

    # -- calls -------------------------------------------------------------------------------

    async def complete(self, body: dict[str, Any], *, model: str) -> CallResult:
        """A non-streaming chat completion for ``body`` on a deployment of ``model``.

        Raises:
            ModelNotFound: unknown model. LLMuxError: the last error once retries are exhausted.
        """
        (parsed, status), deployment, attempts = await self._run(
            model, lambda d: self._complete_once(d, body)
        )
        usage = parsed.usage or estimate_usage(body, deployment.upstream_model, parsed.text)
        return CallResult(parsed.body, usage, deployment, attempts.count, attempts.fallbacks,
                          status)

    async def open_stream(self, body: dict[str, Any], *, model: str) -> StreamCall:
        """A streaming chat completion, connected and holding its first frame.

        Raises:
            ModelNotFound: unknown model. LLMuxError: no deployment produced a first frame.
        """
        started = time.perf_counter()
        call, _, attempts = await self._run(model, lambda d: self._open_once(d, body, started))
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

    async def _send(self, deployment: Deployment, body: dict[str, Any], *, is_streaming: bool
                    ) -> tuple[ProviderAdapter, UpstreamResponse]:
        adapter, transport = self._links[deployment.provider_name]
        request = adapter.build_request(body, deployment, is_streaming=is_streaming)
        response = await transport.send(request)
        if not 200 <= response.status < 300:
            data = await response.read()
            raise _with_retry_after(adapter.parse_error(response.status, data), response.headers)
        return adapter, response

    async def _complete_once(self, deployment: Deployment, body: dict[str, Any]) -> Any:
        adapter, response = await self._send(deployment, body, is_streaming=False)
        data = await response.read()
        return adapter.parse_response(data, deployment), response.status

    async def _open_once(self, deployment: Deployment, body: dict[str, Any], started: float
                         ) -> StreamCall:
        adapter, response = await self._send(deployment, body, is_streaming=True)
        try:
            translator = adapter.stream_translator(
                deployment, forward_usage_chunk=wants_usage_chunk(body)
            )
            call = StreamCall(deployment, response, translator, body, started)
            await call.prefetch()
        except BaseException:
            await response.aclose()
            raise
        return call

    # -- retries and fallbacks -----------------------------------------------------------------

    async def _run(self, model: str, attempt: Callable[[Deployment], Awaitable[_T]]
                   ) -> tuple[_T, Deployment, _Attempts]:
        candidates = self.resolve(model)
        group = self._group_name(model)
        attempts = _Attempts()
        try:
            value, deployment = await self._try_group(candidates, attempt, attempts)
            return value, deployment, attempts
        except ContextLengthExceeded:
            chain = self._routing.context_window_fallbacks.get(group, [])
            if not chain:
                raise
        except LLMuxError as error:
            chain = self._routing.fallbacks.get(group, []) if self._routing.fallback_enabled else []
            if not (error.retryable and chain):
                raise
        value, deployment = await self._try_fallbacks(chain, attempt, attempts)
        return value, deployment, attempts

    async def _try_fallbacks(self, chain: Sequence[str], attempt: Callable[[Deployment],
                             Awaitable[_T]], attempts: _Attempts) -> tuple[_T, Deployment]:
        last: LLMuxError | None = None
        for name in chain:
            try:
                candidates = self.resolve(name)
            except ModelNotFound as error:
                last = last or error
                continue
            attempts.fallbacks.append(name)
            try:
                return await self._try_group(candidates, attempt, attempts)
            except LLMuxError as error:
                if not (error.retryable or isinstance(error, ContextLengthExceeded)):
                    raise
                last = error
        assert last is not None
        raise last

    async def _try_group(self, candidates: Sequence[Deployment], attempt: Callable[[Deployment],
                         Awaitable[_T]], attempts: _Attempts) -> tuple[_T, Deployment]:
        tried: set[str] = set()
        last: LLMuxError | None = None
        for _ in range(1 + self._routing.retry_count):
            deployment = self._choose(candidates, tried)
            if deployment.id in tried and self._backoff_s:
                await asyncio.sleep(self._backoff_s)  # NOTE: only when retrying the same one
            tried.add(deployment.id)
            attempts.count += 1
            try:
                return await attempt(deployment), deployment
            except LLMuxError as error:
                if not error.retryable:
                    raise
                last = error
        assert last is not None
        raise last

    def _choose(self, candidates: Sequence[Deployment], tried: set[str]) -> Deployment:
        """The strategy's pick among untried candidates of the best (lowest) ``order``."""
        pool = [d for d in candidates if d.id not in tried] or list(candidates)
        best = min(_UNORDERED if d.order is None else d.order for d in pool)
        pool = [d for d in pool if (_UNORDERED if d.order is None else d.order) == best]
        return pool[0] if len(pool) == 1 else self._strategy.choose(pool, self._rng)
