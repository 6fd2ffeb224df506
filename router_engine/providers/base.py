"""The provider adapter interface: a pure translator between OpenAI's wire format and a provider's.

The gateway's canonical request and response are OpenAI Chat Completions JSON. An adapter turns a
canonical request into an ``UpstreamRequest`` for its provider and turns what the provider sends
back into canonical bytes plus the usage it reported. Adapters do no I/O, read no clock and never
retry: the router does those. A variant (Azure, an OpenAI-compatible preset) overrides one method.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass
from typing import Any, ClassVar, Literal

from router_engine.deployment import Deployment
from router_engine.upstream.base import UpstreamRequest
from schemas.config import ProviderConfig
from schemas.errors import LLMuxError, NotSupported
from schemas.token_usage import TokenUsage

__all__ = ["Operation", "ParsedResponse", "ProviderAdapter", "StreamTranslator"]

Operation = Literal["chat", "completions", "embeddings"]
"""What an upstream call does: chat completions (the canonical format), legacy text
completions, or embeddings. ``router_engine.providers.operations`` dispatches on it."""


@dataclass(frozen=True, slots=True)
class ParsedResponse:
    body: bytes
    """The OpenAI-format response body for the client."""
    usage: TokenUsage | None
    """Usage as the provider reported it; None when it reported none."""
    text: str = ""
    """The generated text, used to count tokens when ``usage`` is None."""


class StreamTranslator(ABC):
    """Per-stream state: turns upstream body bytes into OpenAI SSE frames.

    Upstream bytes arrive split anywhere; ``feed`` buffers partial events and returns only complete
    frames (``b"data: {...}\\n\\n"``). For OpenAI-format upstreams the frames are the upstream bytes
    unchanged (no re-encoding).
    """

    usage: TokenUsage | None = None
    """Usage seen in the stream so far (providers send it at the end)."""
    saw_done: bool = False
    """True once the upstream signalled a normal end of stream."""

    @abstractmethod
    def feed(self, data: bytes) -> list[bytes]:
        """Frames to forward to the client for this piece of upstream body."""

    @abstractmethod
    def text(self) -> str:
        """All generated text so far (for counting tokens when the provider reports no usage)."""

    def finish(self) -> list[bytes]:
        """Frames still owed at the end of the upstream body (usually none)."""
        return []


class ProviderAdapter(ABC):
    """Translates for one provider config; built once at config load, shared by its deployments."""

    def __init__(self, config: ProviderConfig) -> None:
        self.config = config

    @abstractmethod
    def build_request(
        self, body: dict[str, Any], deployment: Deployment, *, is_streaming: bool
    ) -> UpstreamRequest:
        """The upstream call for canonical request ``body`` (not mutated) on ``deployment``.

        For streams the adapter asks the provider for usage in the stream where it can.
        """

    @abstractmethod
    def parse_response(self, body: bytes, deployment: Deployment) -> ParsedResponse:
        """Canonical response and usage from a successful (2xx) upstream body.

        Raises:
            UpstreamProtocolError: the body is not what the provider's format promises.
        """

    @abstractmethod
    def stream_translator(
        self, deployment: Deployment, *, forward_usage_chunk: bool
    ) -> StreamTranslator:
        """A fresh translator for one stream.

        Args:
            forward_usage_chunk: whether the client asked for ``stream_options.include_usage``;
                when False, a usage-only chunk the gateway asked for is not forwarded.
        """

    @abstractmethod
    def parse_error(self, status: int, body: bytes) -> LLMuxError:
        """The gateway error for a non-2xx upstream reply (429 → rate limit, 401 → auth...)."""

    # -- operations other than chat (``router_engine.providers.operations`` dispatches) -------

    has_native_completions: ClassVar[bool] = False
    """Whether the provider serves legacy ``/completions`` itself; when False the gateway
    serves them through chat (``router_engine.providers.legacy_completions``)."""

    def build_embeddings_request(
        self, body: dict[str, Any], deployment: Deployment
    ) -> UpstreamRequest:
        """The upstream call for an OpenAI embeddings request ``body``.

        Raises:
            NotSupported: the provider has no embeddings API (the default).
        """
        raise self._unsupported("embeddings")

    def parse_embeddings_response(
        self, body: bytes, request: dict[str, Any], deployment: Deployment
    ) -> ParsedResponse:
        """The OpenAI ``list`` of embeddings for a 2xx upstream body, with usage always set
        (counted locally from ``request`` when the provider reports none)."""
        raise self._unsupported("embeddings")

    def build_completions_request(
        self, body: dict[str, Any], deployment: Deployment, *, is_streaming: bool
    ) -> UpstreamRequest:
        """The upstream call for a legacy completions ``body`` (``has_native_completions``)."""
        raise self._unsupported("completions")

    def parse_completions_response(
        self, body: bytes, request: dict[str, Any], deployment: Deployment
    ) -> ParsedResponse:
        """The ``text_completion`` for a 2xx upstream body, usage always set."""
        raise self._unsupported("completions")

    def completions_stream_translator(
        self, deployment: Deployment, request: dict[str, Any], *, forward_usage_chunk: bool
    ) -> StreamTranslator:
        """A translator for one legacy completions stream; its ``usage`` is never None once
        the stream ended (counted locally from ``request`` when the provider reports none)."""
        raise self._unsupported("completions")

    def _unsupported(self, operation: str) -> NotSupported:
        return NotSupported(
            f"Provider '{self.config.name}' (type {self.config.type}) does not serve "
            f"{operation}.", param="model",
        )
