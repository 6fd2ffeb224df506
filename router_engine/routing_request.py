"""What routing knows about one call, read from its OpenAI request body.

Routing tags travel in the body as ``"tags": ["..."]`` (with the openai SDK:
``extra_body={"tags": [...]}``), the way LiteLLM clients already send them. They are for the
gateway only, so they are removed from the body that goes upstream.
"""

from __future__ import annotations

from typing import Any

from router_engine.strategies import RoutingRequest
from router_engine.tokens import count_request_prompt_tokens
from schemas.errors import InvalidRequest

__all__ = ["routing_request"]


def _completion_cap(body: dict[str, Any]) -> int:
    for name in ("max_completion_tokens", "max_tokens"):
        value = body.get(name)
        if isinstance(value, int) and not isinstance(value, bool) and value > 0:
            return value
    return 0


def routing_request(
    body: dict[str, Any], model: str, *, is_streaming: bool, count_tokens: bool
) -> tuple[dict[str, Any], RoutingRequest]:
    """The body to send upstream (without ``tags``) and the ``RoutingRequest`` for strategies.

    Args:
        body: the client's request body.
        model: the model name the client asked for.
        is_streaming: whether the call streams (``lowest-latency`` then weighs TTFT).
        count_tokens: count the prompt's tokens (only strategies that use them pay for it).

    Raises:
        InvalidRequest: ``tags`` is not a list of strings.
    """
    tags = body.get("tags")
    if tags is not None:
        if not isinstance(tags, list) or not all(isinstance(tag, str) for tag in tags):
            raise InvalidRequest("'tags' must be a list of strings.", param="tags")
        body = {name: value for name, value in body.items() if name != "tags"}
    # PERF: positional, in field order (model_group, prompt_tokens, max_completion_tokens,
    # tags, is_streaming): a frozen dataclass takes keywords ~0.3 µs slower, on every call.
    request = RoutingRequest(
        model,
        count_request_prompt_tokens(body, model) if count_tokens else 0,
        _completion_cap(body),
        tuple(tags) if tags else (),
        is_streaming,
    )
    return body, request
