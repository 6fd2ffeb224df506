"""Request events: exactly one terminal event per request."""

from __future__ import annotations

from typing import Literal

from schemas.events.envelope import EventPayload

__all__ = ["RequestCompleted", "RequestFailed", "RequestRejected"]


class _RequestOutcome(EventPayload, frozen=True, kw_only=True):
    key_id: str | None
    """The virtual key that made the call (None for the master key or anonymous standalone use)."""
    endpoint: str
    """``chat.completions``, ``embeddings``, ``messages``..."""
    model_requested: str
    is_streaming: bool = False
    latency_ms: float = 0.0
    """Wall time from request parsed to last byte sent."""


class RequestCompleted(_RequestOutcome, frozen=True, kw_only=True):
    TYPE = "request.completed"
    VERSION = 1

    deployment: str
    """``provider/model`` of the deployment that served the request."""
    provider: str
    model: str
    """The model the upstream was asked for."""
    attempts: int = 1
    fallbacks: list[str] = []
    """Model groups tried after the requested one, in order."""
    status_code: int = 200
    ttft_ms: float | None = None
    """Time to first token for streams."""


class RequestFailed(_RequestOutcome, frozen=True, kw_only=True):
    TYPE = "request.failed"
    VERSION = 1

    deployment: str | None = None
    provider: str | None = None
    attempts: int = 1
    fallbacks: list[str] = []
    status_code: int
    error_type: str
    error_code: str | None = None
    message: str = ""
    ttft_ms: float | None = None


class RequestRejected(_RequestOutcome, frozen=True, kw_only=True):
    TYPE = "request.rejected"
    VERSION = 1

    reason: Literal["auth", "rate_limit", "budget", "validation", "model_access", "model_not_found"]
    status_code: int
    message: str = ""
