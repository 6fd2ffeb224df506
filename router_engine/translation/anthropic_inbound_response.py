"""An OpenAI ``chat.completion`` rewritten as the Anthropic ``Message`` ``/v1/messages`` returns.

OpenAI's ``prompt_tokens`` includes cached tokens; Anthropic reports them apart, so
``input_tokens`` is the uncached rest and ``cache_read_input_tokens`` the cached part, which keeps
Anthropic's "total input = input + cache read + cache creation" true.
"""

from __future__ import annotations

from typing import Any

import orjson

from router_engine.translation.chat_upstream import completion_object
from schemas.errors import UpstreamProtocolError

__all__ = ["anthropic_message_id", "anthropic_usage", "openai_response_to_anthropic", "stop_reason"]

_STOP_REASONS = {
    "stop": "end_turn",
    "length": "max_tokens",
    "tool_calls": "tool_use",
    "function_call": "tool_use",
    "content_filter": "refusal",
}


def stop_reason(finish_reason: str | None) -> str:
    """Anthropic's ``stop_reason`` for an OpenAI ``finish_reason`` (unknown → ``end_turn``)."""
    return _STOP_REASONS.get(finish_reason or "", "end_turn")


def anthropic_message_id(openai_id: Any) -> str:
    """A ``msg_``-prefixed id derived from the OpenAI response id (stable, so logs correlate)."""
    text = openai_id if isinstance(openai_id, str) and openai_id else "llmux"
    return text if text.startswith("msg_") else f"msg_{text.removeprefix('chatcmpl-')}"


def anthropic_usage(usage: Any) -> dict[str, int]:
    """Anthropic ``usage`` for an OpenAI ``usage`` object (zeros when there is none)."""
    usage = usage if isinstance(usage, dict) else {}
    cached = (usage.get("prompt_tokens_details") or {}).get("cached_tokens") or 0
    prompt = usage.get("prompt_tokens") or 0
    return {
        "input_tokens": max(prompt - cached, 0),
        "output_tokens": usage.get("completion_tokens") or 0,
        "cache_read_input_tokens": cached,
        "cache_creation_input_tokens": 0,
    }


def openai_response_to_anthropic(body: bytes | dict[str, Any], *, model: str) -> dict[str, Any]:
    """The Anthropic ``Message`` for an OpenAI ``chat.completion`` (its first choice).

    Args:
        body: the completion as bytes or as decoded JSON.
        model: the model name the client asked for, reported back unchanged.

    Raises:
        UpstreamProtocolError: ``body`` is not a chat completion.
    """
    completion = completion_object(body)
    choices = completion.get("choices")
    if not isinstance(choices, list) or not choices or not isinstance(choices[0], dict):
        raise UpstreamProtocolError("The upstream completion has no choices.")
    choice = choices[0]
    message = choice.get("message") or {}
    return {
        "id": anthropic_message_id(completion.get("id")),
        "type": "message",
        "role": "assistant",
        "model": model,
        "content": _content_blocks(message),
        "stop_reason": stop_reason(choice.get("finish_reason")),
        "stop_sequence": None,
        "usage": anthropic_usage(completion.get("usage")),
    }


def _content_blocks(message: dict[str, Any]) -> list[dict[str, Any]]:
    blocks: list[dict[str, Any]] = []
    reasoning = message.get("reasoning_content") or message.get("reasoning")
    if isinstance(reasoning, str) and reasoning:
        # NOTE: no signature exists for reasoning Anthropic did not produce; an empty one tells
        # a client the block cannot be verified (the gateway drops it if it is sent back).
        blocks.append({"type": "thinking", "thinking": reasoning, "signature": ""})
    content = message.get("content")
    if isinstance(content, str) and content:
        blocks.append({"type": "text", "text": content})
    for call in message.get("tool_calls") or []:
        blocks.append(_tool_use(call))
    return blocks


def _tool_use(call: dict[str, Any]) -> dict[str, Any]:
    function = call.get("function") or {}
    try:
        arguments = orjson.loads(function.get("arguments") or "{}")
    except orjson.JSONDecodeError:
        arguments = None
    if not isinstance(arguments, dict):
        raise UpstreamProtocolError("The upstream model sent tool arguments that are not a JSON "
                                    "object.")
    return {"type": "tool_use", "id": call.get("id", ""), "name": function.get("name", ""),
            "input": arguments}
