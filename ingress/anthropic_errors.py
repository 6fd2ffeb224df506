"""Errors on the Anthropic routes (``/v1/messages``) leave in Anthropic's error envelope.

Anthropic SDKs read ``{"type": "error", "error": {"type", "message"}}``; every other route keeps
the OpenAI body. The handler replaces the app's ``LLMuxError`` handler and decides by path, so
errors raised before the resource runs (authentication in the middleware) are covered too.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

import falcon
import falcon.asgi
import orjson

from ingress.errors import render_error
from router_engine.translation import anthropic_error_body
from schemas.errors import LLMuxError

__all__ = ["install_anthropic_errors", "render_anthropic_error"]

_Handler = Callable[[falcon.asgi.Request, falcon.asgi.Response, LLMuxError, Any], Awaitable[None]]


def render_anthropic_error(resp: falcon.asgi.Response, error: LLMuxError) -> None:
    """Write ``error`` to ``resp`` as Anthropic does (status and headers unchanged)."""
    resp.status = error.status
    resp.content_type = falcon.MEDIA_JSON
    resp.data = orjson.dumps(anthropic_error_body(error))
    for name, value in error.headers.items():
        resp.set_header(name, value)


def _handler(paths: frozenset[str]) -> _Handler:
    async def handle(req: falcon.asgi.Request, resp: falcon.asgi.Response, error: LLMuxError,
                     params: Any) -> None:
        if req.path in paths:
            render_anthropic_error(resp, error)
        else:
            render_error(resp, error)

    return handle


def install_anthropic_errors(app: falcon.asgi.App[Any, Any], paths: frozenset[str]) -> None:
    """Render ``LLMuxError`` on ``paths`` in Anthropic's envelope (install after the others)."""
    app.add_error_handler(LLMuxError, _handler(paths))
