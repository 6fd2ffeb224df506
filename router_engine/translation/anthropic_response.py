"""An Anthropic Messages response rewritten as an OpenAI ``chat.completion``; usage; stop reasons.

Anthropic reports prompt tokens in three parts (``input_tokens``, ``cache_read_input_tokens``,
``cache_creation_input_tokens``) that together are OpenAI's ``prompt_tokens``; only cache reads
are OpenAI's ``cached_tokens``. Thinking blocks become the message's ``reasoning_content``, the
field OpenAI-compatible servers (DeepSeek, vLLM) use for visible reasoning.
"""

from __future__ import annotations

from typing import Any

import orjson

from schemas.errors import UpstreamProtocolError
from schemas.token_usage import TokenUsage

__all__ = [
    "anthropic_response_to_openai",
    "finish_reason",
    "openai_usage",
    "token_usage",
]

_FINISH_REASONS = {
    "end_turn": "stop",
    "stop_sequence": "stop",
    "pause_turn": "stop",
    "max_tokens": "length",
    "model_context_window_exceeded": "length",
    "tool_use": "tool_calls",
    "refusal": "content_filter",
}


def finish_reason(stop_reason: str | None) -> str:
    """OpenAI's ``finish_reason`` for an Anthropic ``stop_reason`` (unknown reasons → ``stop``)."""
    return _FINISH_REASONS.get(stop_reason or "", "stop")


def token_usage(usage: dict[str, Any]) -> TokenUsage:
    """Anthropic ``usage`` (a message's, or a ``message_delta``'s cumulative one), normalised."""
    cache_read = usage.get("cache_read_input_tokens") or 0
    cache_write = usage.get("cache_creation_input_tokens") or 0
    details = usage.get("output_tokens_details") or {}
    return TokenUsage(
        prompt_tokens=(usage.get("input_tokens") or 0) + cache_read + cache_write,
        completion_tokens=usage.get("output_tokens") or 0,
        cached_tokens=cache_read,
        reasoning_tokens=details.get("thinking_tokens") or 0,
    )


def openai_usage(usage: TokenUsage) -> dict[str, Any]:
    """The OpenAI ``usage`` object for ``usage``."""
    return {
        "prompt_tokens": usage.prompt_tokens,
        "completion_tokens": usage.completion_tokens,
        "total_tokens": usage.total_tokens,
        "prompt_tokens_details": {"cached_tokens": usage.cached_tokens},
        "completion_tokens_details": {"reasoning_tokens": usage.reasoning_tokens},
    }


def anthropic_response_to_openai(message: dict[str, Any]) -> tuple[dict[str, Any], TokenUsage, str]:
    """The ``chat.completion`` body, its usage, and all generated text (for local counting).

    Raises:
        UpstreamProtocolError: ``message`` is not an Anthropic message.
    """
    content = message.get("content")
    if message.get("type") != "message" or not isinstance(content, list):
        raise UpstreamProtocolError("Anthropic returned a body that is not a message.")
    texts, thoughts, calls = _collect(content)
    reply: dict[str, Any] = {"role": "assistant", "content": "".join(texts) if texts else None}
    if thoughts:
        reply["reasoning_content"] = "".join(thoughts)
    if calls:
        reply["tool_calls"] = calls
    usage = token_usage(message.get("usage") or {})
    body = {
        "id": message.get("id", ""),
        "object": "chat.completion",
        # NOTE: adapters read no clock and Anthropic sends no timestamp; 0 is "unknown".
        "created": 0,
        "model": message.get("model", ""),
        "choices": [{"index": 0, "message": reply, "logprobs": None,
                     "finish_reason": finish_reason(message.get("stop_reason"))}],
        "usage": openai_usage(usage),
    }
    generated = "".join(texts + thoughts + [c["function"]["arguments"] for c in calls])
    return body, usage, generated


def _collect(content: list[Any]) -> tuple[list[str], list[str], list[dict[str, Any]]]:
    texts: list[str] = []
    thoughts: list[str] = []
    calls: list[dict[str, Any]] = []
    for block in content:
        kind = block.get("type") if isinstance(block, dict) else None
        if kind == "text":
            texts.append(block.get("text") or "")
        elif kind == "thinking":
            thoughts.append(block.get("thinking") or "")
        elif kind == "tool_use":
            calls.append(_tool_call(block))
    return texts, thoughts, calls


def _tool_call(block: dict[str, Any]) -> dict[str, Any]:
    arguments = orjson.dumps(block.get("input") or {}).decode()
    return {"id": block.get("id", ""), "type": "function",
            "function": {"name": block.get("name", ""), "arguments": arguments}}
