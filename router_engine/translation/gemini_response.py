"""A Gemini ``GenerateContentResponse``, rewritten as OpenAI Chat Completions JSON.

The pieces here serve both a whole response and each streamed event (a stream is a sequence of
partial ``GenerateContentResponse`` objects): the usage record, the finish reason and the
message (text, hidden reasoning and tool calls) of one candidate.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from typing import Any

import orjson

from schemas.token_usage import TokenUsage

__all__ = [
    "CandidateContent",
    "candidate_content",
    "candidate_logprobs",
    "finish_reason",
    "gemini_response_to_openai",
    "openai_usage",
    "usage_from_gemini",
]

_FINISH_REASONS = {
    "STOP": "stop",
    "MAX_TOKENS": "length",
    "SAFETY": "content_filter",
    "RECITATION": "content_filter",
    "BLOCKLIST": "content_filter",
    "PROHIBITED_CONTENT": "content_filter",
    "SPII": "content_filter",
    "IMAGE_SAFETY": "content_filter",
}
"""Gemini ``finishReason`` → OpenAI ``finish_reason``; any other reason reads as ``stop``."""


@dataclass(slots=True)
class CandidateContent:
    """What one candidate (or one streamed piece of it) said."""

    text: str = ""
    reasoning: str = ""
    tool_calls: list[dict[str, Any]] = field(default_factory=list)


def usage_from_gemini(metadata: dict[str, Any] | None) -> TokenUsage | None:
    """Canonical usage from ``usageMetadata``; None when Gemini sent none.

    Gemini counts hidden reasoning (``thoughtsTokenCount``) apart from ``candidatesTokenCount``,
    while OpenAI counts it inside ``completion_tokens``; cached prompt tokens are inside
    ``promptTokenCount`` in both.
    """
    if not metadata:
        return None
    thoughts = int(metadata.get("thoughtsTokenCount") or 0)
    prompt = int(metadata.get("promptTokenCount") or 0)
    prompt += int(metadata.get("toolUsePromptTokenCount") or 0)
    return TokenUsage(
        prompt_tokens=prompt,
        completion_tokens=int(metadata.get("candidatesTokenCount") or 0) + thoughts,
        cached_tokens=int(metadata.get("cachedContentTokenCount") or 0),
        reasoning_tokens=thoughts,
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


def finish_reason(reason: str | None, *, has_tool_calls: bool) -> str | None:
    """OpenAI's finish reason for Gemini's; None while the candidate is still going."""
    if not reason or reason == "FINISH_REASON_UNSPECIFIED":
        return None
    mapped = _FINISH_REASONS.get(reason, "stop")
    # NOTE: Gemini ends a function-calling turn with STOP; OpenAI clients loop on "tool_calls".
    return "tool_calls" if has_tool_calls and mapped == "stop" else mapped


def candidate_content(
    candidate: dict[str, Any], *, response_id: str, first_tool_index: int = 0
) -> CandidateContent:
    """Text, reasoning and OpenAI tool calls (with ``index`` and a stable ``id``) of a candidate."""
    result = CandidateContent()
    for part in (candidate.get("content") or {}).get("parts") or []:
        if "functionCall" in part:
            index = first_tool_index + len(result.tool_calls)
            call = _tool_call(part["functionCall"], response_id, candidate, index)
            result.tool_calls.append(call)
        elif part.get("thought"):
            result.reasoning += part.get("text") or ""
        else:
            result.text += part.get("text") or ""
    return result


def _tool_call(
    call: dict[str, Any], response_id: str, candidate: dict[str, Any], index: int
) -> dict[str, Any]:
    arguments = orjson.dumps(call.get("args") or {}).decode()
    call_id = call.get("id")
    if not call_id:
        # NOTE: Gemini names no call id; a hash of the response id and position is unique in a
        # conversation and stable, so golden files and retries see the same id (no randomness).
        seed = f"{response_id}:{candidate.get('index', 0)}:{index}:{call.get('name')}:{arguments}"
        call_id = "call_" + hashlib.blake2b(seed.encode(), digest_size=12).hexdigest()
    return {
        "index": index,
        "id": call_id,
        "type": "function",
        "function": {"name": call.get("name", ""), "arguments": arguments},
    }


def candidate_logprobs(candidate: dict[str, Any]) -> dict[str, Any] | None:
    """OpenAI ``logprobs`` from a candidate's ``logprobsResult``; None when Gemini sent none."""
    result = candidate.get("logprobsResult")
    if not isinstance(result, dict):
        return None
    tops = result.get("topCandidates") or []
    content = []
    for position, chosen in enumerate(result.get("chosenCandidates") or []):
        alternatives = (tops[position].get("candidates") or []) if position < len(tops) else []
        content.append({**_token_logprob(chosen),
                        "top_logprobs": [_token_logprob(token) for token in alternatives]})
    return {"content": content, "refusal": None}


def _token_logprob(token: dict[str, Any]) -> dict[str, Any]:
    text = str(token.get("token", ""))
    logprob = float(token.get("logProbability", 0.0))
    return {"token": text, "logprob": logprob, "bytes": list(text.encode())}


def gemini_response_to_openai(
    data: dict[str, Any], *, response_id: str, created: int, model: str
) -> dict[str, Any]:
    """The ``chat.completion`` object for a whole (non-streamed) Gemini response."""
    choices = [_choice(candidate, response_id) for candidate in data.get("candidates") or []]
    if not choices:
        # NOTE: a prompt blocked by safety filters comes back with no candidates at all, only
        # promptFeedback.blockReason; OpenAI clients expect one filtered choice, not zero.
        choices = [_choice({"finishReason": "SAFETY"}, response_id)]
    completion: dict[str, Any] = {
        "id": f"chatcmpl-{response_id}",
        "object": "chat.completion",
        "created": created,
        "model": model,
        "choices": choices,
    }
    usage = usage_from_gemini(data.get("usageMetadata"))
    if usage is not None:
        completion["usage"] = openai_usage(usage)
    return completion


def _choice(candidate: dict[str, Any], response_id: str) -> dict[str, Any]:
    content = candidate_content(candidate, response_id=response_id)
    message: dict[str, Any] = {"role": "assistant", "content": content.text or None}
    if content.reasoning:
        message["reasoning_content"] = content.reasoning
    if content.tool_calls:
        message["tool_calls"] = [
            {key: value for key, value in call.items() if key != "index"}
            for call in content.tool_calls
        ]
    reason = finish_reason(candidate.get("finishReason"), has_tool_calls=bool(content.tool_calls))
    return {
        "index": candidate.get("index", 0),
        "message": message,
        "logprobs": candidate_logprobs(candidate),
        "finish_reason": reason or "stop",
    }
