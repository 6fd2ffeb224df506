"""How every model endpoint writes its answer: an SSE stream or a JSON body, with our headers.

Chat, completions, embeddings, messages and responses differ in how they validate and translate,
not in how they reply, so the reply is written once here.
"""

from __future__ import annotations

from collections.abc import AsyncIterator

import falcon
import falcon.asgi

from ingress.sse import RawFrame
from schemas.money import format_usd

__all__ = ["SSE_HEADERS", "reply_json", "reply_stream"]

SSE_HEADERS = {"Cache-Control": "no-cache", "X-Accel-Buffering": "no"}


def reply_stream(resp: falcon.asgi.Response, deployment_id: str,
                 events: AsyncIterator[RawFrame]) -> None:
    """Answer with the SSE body ``events``, naming the deployment that serves it."""
    resp.set_headers({**SSE_HEADERS, "x-llmux-deployment": deployment_id})
    # RawFrame has SSEvent.serialize(), all Falcon calls; its annotation names SSEvent only.
    resp.sse = events  # type: ignore[assignment]


def reply_json(resp: falcon.asgi.Response, data: bytes, deployment_id: str,
               cost_micros: int) -> None:
    """Answer with the JSON body ``data``, naming the deployment and what the call cost."""
    resp.content_type = falcon.MEDIA_JSON
    resp.data = data
    resp.set_header("x-llmux-deployment", deployment_id)
    resp.set_header("x-llmux-cost-usd", format_usd(cost_micros))
