"""Anthropic errors both ways: upstream error bodies → gateway errors → Anthropic envelopes.

Anthropic answers an error with ``{"type": "error", "error": {"type", "message"}}`` and, inside a
stream, with an ``error`` event carrying the same body. The error ``type`` is more precise than
the status (``overloaded_error`` is 529, a status no OpenAI client knows), so it decides; the
status only decides when the body is not Anthropic's.
"""

from __future__ import annotations

from typing import Any

import orjson

from schemas.errors import (
    ContextLengthExceeded,
    InvalidRequest,
    LLMuxError,
    PayloadTooLarge,
    UpstreamAuthError,
    UpstreamError,
    UpstreamRateLimited,
    UpstreamTimeout,
    UpstreamUnavailable,
)

__all__ = ["anthropic_error_body", "anthropic_error_type", "gateway_error", "upstream_error"]

_TYPE_BY_STATUS = {
    400: "invalid_request_error",
    401: "authentication_error",
    403: "permission_error",
    404: "not_found_error",
    408: "timeout_error",
    413: "request_too_large",
    429: "rate_limit_error",
    500: "api_error",
    503: "overloaded_error",
    504: "timeout_error",
    529: "overloaded_error",
}

_GATEWAY_TYPES = {
    "rate_limit_error": UpstreamRateLimited,
    "authentication_error": UpstreamAuthError,
    "permission_error": UpstreamAuthError,
    "overloaded_error": UpstreamUnavailable,
    "timeout_error": UpstreamTimeout,
    "request_too_large": PayloadTooLarge,
}


def upstream_error(status: int, body: bytes) -> LLMuxError:
    """The gateway error for a non-2xx Anthropic reply."""
    kind, message = _read_body(body)
    return gateway_error(kind or _TYPE_BY_STATUS.get(status, "api_error"),
                         message or f"Anthropic answered HTTP {status}.")


def gateway_error(kind: str, message: str) -> LLMuxError:
    """The gateway error for an Anthropic error ``type`` and ``message`` (body or stream event)."""
    if kind == "invalid_request_error":
        if "prompt is too long" in message.lower():
            return ContextLengthExceeded(message)
        return InvalidRequest(message)
    error_class: type[LLMuxError] | None = _GATEWAY_TYPES.get(kind)
    if error_class is not None:
        return error_class(f"Anthropic: {message}")
    # api_error, not_found_error (a misconfigured model), billing_error...: another deployment
    # may well serve the call, so these stay retryable upstream errors.
    return UpstreamError(f"Anthropic {kind}: {message}")


def _read_body(body: bytes) -> tuple[str | None, str | None]:
    try:
        payload = orjson.loads(body)
    except orjson.JSONDecodeError:
        return None, None
    error = payload.get("error") if isinstance(payload, dict) else None
    if not isinstance(error, dict):
        return None, None
    kind, message = error.get("type"), error.get("message")
    return (kind if isinstance(kind, str) else None,
            message if isinstance(message, str) else None)


def anthropic_error_type(error: LLMuxError) -> str:
    """The Anthropic error ``type`` a client of ``/v1/messages`` gets for ``error``."""
    if error.type == "insufficient_quota":
        return "billing_error"
    if error.type in ("invalid_request_error", "authentication_error", "permission_error",
                      "not_found_error", "rate_limit_error", "timeout_error"):
        return error.type
    return _TYPE_BY_STATUS.get(error.status, "api_error")


def anthropic_error_body(error: LLMuxError) -> dict[str, Any]:
    """Anthropic's error envelope ``{"type": "error", "error": {"type", "message"}}``."""
    return {"type": "error", "error": {"type": anthropic_error_type(error),
                                       "message": error.message}}
