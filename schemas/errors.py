"""One error hierarchy for the whole gateway; one Falcon handler renders it as an OpenAI error body.

Every class fixes its HTTP ``status``, OpenAI ``type`` and default ``code`` as class attributes, so
raising an error is a statement of *what* went wrong and rendering is never a decision::

    LLMuxError (500 api_error)
    ├── InvalidRequest (400 invalid_request_error)
    │   ├── NotSupported (400, code not_supported)
    │   ├── ContextLengthExceeded (400, code context_length_exceeded)
    │   └── ContentPolicyViolation (400, code content_policy_violation)
    ├── PayloadTooLarge (413 invalid_request_error)
    ├── RequestTimeout (408 invalid_request_error; the client did not send its request in time)
    ├── AuthenticationFailed (401 authentication_error)
    ├── PermissionDenied (403 permission_error)
    ├── NotFound (404 not_found_error)
    │   └── ModelNotFound (404, code model_not_found)
    ├── RateLimited (429 rate_limit_error, Retry-After)
    ├── BudgetExceeded (429 insufficient_quota, never retried by the SDKs)
    ├── ServiceUnavailable (503 service_unavailable_error)
    └── UpstreamError (502 upstream_error)
        ├── UpstreamConnectError (502)
        ├── UpstreamProtocolError (502)
        ├── UpstreamTimeout (504 timeout_error)
        ├── UpstreamRateLimited (429 rate_limit_error)
        ├── UpstreamAuthError (401 authentication_error; our provider credential was refused)
        └── UpstreamUnavailable (503 service_unavailable_error)

Messages are safe to show to a client: never put a secret (provider key, virtual key, master key)
in one.
"""

from __future__ import annotations

from typing import ClassVar

__all__ = [
    "AuthenticationFailed",
    "BudgetExceeded",
    "ContentPolicyViolation",
    "ContextLengthExceeded",
    "InvalidRequest",
    "LLMuxError",
    "ModelNotFound",
    "NotFound",
    "NotSupported",
    "PayloadTooLarge",
    "PermissionDenied",
    "RateLimited",
    "RequestTimeout",
    "ServiceUnavailable",
    "UpstreamAuthError",
    "UpstreamConnectError",
    "UpstreamError",
    "UpstreamProtocolError",
    "UpstreamRateLimited",
    "UpstreamTimeout",
    "UpstreamUnavailable",
]


class LLMuxError(Exception):
    """Base of every error the gateway reports to a client.

    Attributes:
        status: HTTP status code of the response.
        type: OpenAI error ``type`` (``invalid_request_error``, ``rate_limit_error``...).
        code: OpenAI error ``code``, or None.
        retryable: whether the router may retry the call on another deployment.
    """

    status: ClassVar[int] = 500
    type: ClassVar[str] = "api_error"
    default_code: ClassVar[str | None] = None
    retryable: ClassVar[bool] = False

    def __init__(
        self,
        message: str,
        *,
        param: str | None = None,
        code: str | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.param = param
        self.code = code if code is not None else self.default_code
        self.headers: dict[str, str] = dict(headers or {})

    def to_dict(self) -> dict[str, object]:
        """The OpenAI error body: ``{"error": {"message", "type", "param", "code"}}``."""
        return {
            "error": {
                "message": self.message,
                "type": self.type,
                "param": self.param,
                "code": self.code,
            }
        }


class InvalidRequest(LLMuxError):
    status = 400
    type = "invalid_request_error"


class NotSupported(InvalidRequest):
    default_code = "not_supported"


class ContextLengthExceeded(InvalidRequest):
    default_code = "context_length_exceeded"


class ContentPolicyViolation(InvalidRequest):
    default_code = "content_policy_violation"


class PayloadTooLarge(LLMuxError):
    status = 413
    type = "invalid_request_error"
    default_code = "request_too_large"


class RequestTimeout(LLMuxError):
    status = 408
    type = "invalid_request_error"
    default_code = "request_timeout"


class AuthenticationFailed(LLMuxError):
    status = 401
    type = "authentication_error"
    default_code = "invalid_api_key"


class PermissionDenied(LLMuxError):
    status = 403
    type = "permission_error"


class NotFound(LLMuxError):
    status = 404
    type = "not_found_error"


class ModelNotFound(NotFound):
    default_code = "model_not_found"


class _WithRetryAfter(LLMuxError):
    """An error that tells the client when to come back (``Retry-After`` in whole seconds)."""

    def __init__(
        self,
        message: str,
        *,
        retry_after_s: float | None = None,
        param: str | None = None,
        code: str | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(message, param=param, code=code, headers=headers)
        self.retry_after_s = retry_after_s
        if retry_after_s is not None:
            self.headers.setdefault("Retry-After", str(max(1, int(retry_after_s + 0.999))))


class RateLimited(_WithRetryAfter):
    status = 429
    type = "rate_limit_error"
    default_code = "rate_limit_exceeded"
    retryable = True


class BudgetExceeded(LLMuxError):
    """A hard budget refused the request.

    NOTE: 429 with ``x-should-retry: false`` is what both official SDKs honour as "do not retry";
    a 402 would be retried by neither but is not an OpenAI status clients expect.
    """

    status = 429
    type = "insufficient_quota"
    default_code = "insufficient_quota"

    def __init__(self, message: str, *, param: str | None = None, code: str | None = None) -> None:
        super().__init__(message, param=param, code=code, headers={"x-should-retry": "false"})


class ServiceUnavailable(_WithRetryAfter):
    status = 503
    type = "service_unavailable_error"
    retryable = True


class UpstreamError(LLMuxError):
    """The upstream provider failed; the message says which deployment and how, never its key."""

    status = 502
    type = "upstream_error"
    retryable = True


class UpstreamConnectError(UpstreamError):
    default_code = "upstream_connect_error"


class UpstreamProtocolError(UpstreamError):
    default_code = "upstream_protocol_error"


class UpstreamTimeout(UpstreamError):
    status = 504
    type = "timeout_error"
    default_code = "upstream_timeout"


class UpstreamRateLimited(_WithRetryAfter, UpstreamError):
    status = 429
    type = "rate_limit_error"
    default_code = "rate_limit_exceeded"


class UpstreamAuthError(UpstreamError):
    status = 401
    type = "authentication_error"
    default_code = "upstream_auth_error"


class UpstreamUnavailable(_WithRetryAfter, UpstreamError):
    status = 503
    type = "service_unavailable_error"
