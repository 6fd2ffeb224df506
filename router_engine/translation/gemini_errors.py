"""Gemini error replies as gateway errors.

Gemini answers with Google's RPC error envelope
``{"error": {"code": 429, "message": "...", "status": "RESOURCE_EXHAUSTED", "details": [...]}}``,
in a reply body or as one event of a stream. The ``status`` name is more precise than the HTTP
code (an invalid API key is a 400 ``INVALID_ARGUMENT`` whose details say ``API_KEY_INVALID``), so
it decides; the HTTP code only decides when the body is not Google's.
"""

from __future__ import annotations

import re
from typing import Any

import orjson

from schemas.errors import (
    ContextLengthExceeded,
    InvalidRequest,
    LLMuxError,
    UpstreamAuthError,
    UpstreamError,
    UpstreamRateLimited,
    UpstreamTimeout,
    UpstreamUnavailable,
)

__all__ = ["gateway_error", "upstream_error"]

_STATUS_BY_CODE = {
    400: "INVALID_ARGUMENT",
    401: "UNAUTHENTICATED",
    403: "PERMISSION_DENIED",
    404: "NOT_FOUND",
    429: "RESOURCE_EXHAUSTED",
    499: "CANCELLED",
    500: "INTERNAL",
    503: "UNAVAILABLE",
    504: "DEADLINE_EXCEEDED",
}

_CONTEXT_LENGTH = re.compile(r"token count|exceeds the maximum number of tokens|too long", re.I)
_SECONDS = re.compile(r"^(\d+(?:\.\d+)?)s$")
_MAX_MESSAGE_CHARS = 500


def upstream_error(status: int, body: bytes) -> LLMuxError:
    """The gateway error for a non-2xx Gemini reply with HTTP ``status`` and ``body``."""
    try:
        payload = orjson.loads(body)
    except orjson.JSONDecodeError:
        payload = None
    error = payload.get("error") if isinstance(payload, dict) else None
    if not isinstance(error, dict):
        error = {"code": status, "message": f"Gemini answered HTTP {status}."}
    error.setdefault("code", status)
    return gateway_error(error)


def gateway_error(error: dict[str, Any]) -> LLMuxError:
    """The gateway error for Google's ``error`` object (from a reply body or a stream event)."""
    raw_code = error.get("code")
    code = raw_code if isinstance(raw_code, int) else 500
    status = str(error.get("status") or _STATUS_BY_CODE.get(code, "UNKNOWN"))
    message = str(error.get("message") or f"Gemini answered {status}.")[:_MAX_MESSAGE_CHARS]
    details: list[Any] = error["details"] if isinstance(error.get("details"), list) else []
    reasons = {detail.get("reason") for detail in details if isinstance(detail, dict)}
    if status in ("UNAUTHENTICATED", "PERMISSION_DENIED") or "API_KEY_INVALID" in reasons:
        return UpstreamAuthError(f"Gemini {status}: {message}")
    if status == "RESOURCE_EXHAUSTED":
        return UpstreamRateLimited(f"Gemini: {message}", retry_after_s=_retry_delay_s(details))
    if status == "INVALID_ARGUMENT":
        if _CONTEXT_LENGTH.search(message):
            return ContextLengthExceeded(message)
        return InvalidRequest(message)
    if status == "UNAVAILABLE":
        return UpstreamUnavailable(f"Gemini: {message}")
    if status == "DEADLINE_EXCEEDED":
        return UpstreamTimeout(f"Gemini: {message}")
    # INTERNAL, NOT_FOUND (a misconfigured model), FAILED_PRECONDITION (region): another
    # deployment may well serve the call, so these stay retryable upstream errors.
    return UpstreamError(f"Gemini {status}: {message}")


def _retry_delay_s(details: list[Any]) -> float | None:
    for detail in details:
        if isinstance(detail, dict) and str(detail.get("@type", "")).endswith("RetryInfo"):
            match = _SECONDS.match(str(detail.get("retryDelay", "")))
            if match is not None:
                return float(match.group(1))
    return None
