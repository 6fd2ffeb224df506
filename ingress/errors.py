"""The error handlers: every failure leaves as an OpenAI error body, never as a stack trace.

Falcon picks the most specific handler by walking the exception's class hierarchy, so one handler
serves the whole ``LLMuxError`` tree, one translates Falcon's own HTTP errors (unknown route, wrong
method), and a last one turns anything unexpected into a logged, generic 500.
"""

from __future__ import annotations

import logging
from typing import Any

import falcon
import falcon.asgi
import orjson

from schemas.errors import LLMuxError

__all__ = ["install_error_handlers", "render_error"]

_log = logging.getLogger("llmux.ingress")

_FALCON_TYPES = {
    400: "invalid_request_error",
    401: "authentication_error",
    403: "permission_error",
    404: "not_found_error",
    405: "invalid_request_error",
    413: "invalid_request_error",
    415: "invalid_request_error",
    429: "rate_limit_error",
}


def render_error(resp: falcon.asgi.Response, error: LLMuxError) -> None:
    """Write ``error`` to ``resp`` (status, headers, OpenAI body)."""
    resp.status = error.status
    resp.content_type = falcon.MEDIA_JSON
    resp.data = orjson.dumps(error.to_dict())
    for name, value in error.headers.items():
        resp.set_header(name, value)


async def _handle_llmux_error(
    req: falcon.asgi.Request, resp: falcon.asgi.Response, error: LLMuxError, params: Any
) -> None:
    render_error(resp, error)


async def _handle_http_error(
    req: falcon.asgi.Request, resp: falcon.asgi.Response, error: falcon.HTTPError, params: Any
) -> None:
    status = error.status_code
    message = error.description or error.title or "Request failed."
    if status == 404:
        message = f"Unknown route: {req.method} {req.path}"
    elif status == 405:
        message = f"Method {req.method} is not allowed on {req.path}"
    resp.status = status
    resp.content_type = falcon.MEDIA_JSON
    body = {"message": message, "type": _FALCON_TYPES.get(status, "api_error"), "param": None,
            "code": None}
    resp.data = orjson.dumps({"error": body})
    resp.set_headers(error.headers or {})


async def _handle_unexpected(
    req: falcon.asgi.Request, resp: falcon.asgi.Response, error: Exception, params: Any
) -> None:
    request_id = getattr(req.context, "request_id", None)
    _log.exception("unhandled error", extra={"request_id": request_id})
    resp.status = 500
    resp.content_type = falcon.MEDIA_JSON
    body = {"message": "The server had an error while processing your request.",
            "type": "api_error", "param": None, "code": "internal_error"}
    resp.data = orjson.dumps({"error": body})


def install_error_handlers(app: falcon.asgi.App[Any, Any]) -> None:
    app.add_error_handler(Exception, _handle_unexpected)
    app.add_error_handler(falcon.HTTPError, _handle_http_error)
    app.add_error_handler(LLMuxError, _handle_llmux_error)
