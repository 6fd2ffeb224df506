"""An OpenAI ``chat.completion`` rewritten as the ``Response`` object ``/v1/responses`` returns.

The first choice becomes the ``output`` items, in the order a Responses model emits them:
reasoning (when the provider returned reasoning text), then the assistant message (its text and
any refusal as content parts), then one ``function_call`` item per tool call. ``finish_reason``
decides the status: ``length`` and ``content_filter`` leave the response ``incomplete`` with the
matching ``incomplete_details``. The request's own settings are echoed the way OpenAI echoes them
(``tools``, ``tool_choice``, ``text``, ``instructions``...), and the ``model`` is the name the
client asked for. Item ids are derived from the response id and the tool call ids, so a response
translated twice reads the same.
"""

from __future__ import annotations

from typing import Any

from router_engine.translation.chat_upstream import completion_object
from schemas.errors import UpstreamProtocolError

__all__ = [
    "function_call_item",
    "item_id",
    "message_item",
    "openai_response_to_responses",
    "reasoning_item",
    "response_envelope",
    "response_status",
    "responses_usage",
    "text_part",
]

_Doc = dict[str, Any]
_INCOMPLETE = {"length": "max_output_tokens", "content_filter": "content_filter"}


def responses_usage(usage: Any) -> _Doc | None:
    """Responses ``usage`` for an OpenAI ``usage`` object (None when there is none)."""
    if not isinstance(usage, dict):
        return None
    prompt = int(usage.get("prompt_tokens") or 0)
    completion = int(usage.get("completion_tokens") or 0)
    cached = int((usage.get("prompt_tokens_details") or {}).get("cached_tokens") or 0)
    reasoning = int((usage.get("completion_tokens_details") or {}).get("reasoning_tokens") or 0)
    return {"input_tokens": prompt, "input_tokens_details": {"cached_tokens": cached},
            "output_tokens": completion,
            "output_tokens_details": {"reasoning_tokens": reasoning},
            "total_tokens": prompt + completion}


def response_status(finish_reason: Any) -> tuple[str, _Doc | None]:
    """``(status, incomplete_details)`` for the chat ``finish_reason`` of the first choice."""
    reason = _INCOMPLETE.get(finish_reason) if isinstance(finish_reason, str) else None
    return ("incomplete", {"reason": reason}) if reason else ("completed", None)


def response_envelope(request: _Doc, *, response_id: str, created_at: int,
                      status: str) -> _Doc:
    """A ``Response`` with no output yet, echoing ``request``'s settings."""
    asked = request.get("reasoning")
    reasoning: _Doc = asked if isinstance(asked, dict) else {}
    return {
        "id": response_id, "object": "response", "created_at": created_at, "status": status,
        "background": False, "error": None, "incomplete_details": None,
        "instructions": request.get("instructions"),
        "max_output_tokens": request.get("max_output_tokens"),
        "model": request.get("model"), "output": [],
        "parallel_tool_calls": request.get("parallel_tool_calls", True),
        "previous_response_id": None,
        "reasoning": {"effort": reasoning.get("effort"), "summary": reasoning.get("summary")},
        "service_tier": request.get("service_tier") or "default", "store": False,
        "temperature": request.get("temperature"),
        "text": request.get("text") or {"format": {"type": "text"}},
        "tool_choice": request.get("tool_choice") or "auto", "tools": request.get("tools") or [],
        "top_p": request.get("top_p"), "truncation": request.get("truncation") or "disabled",
        "usage": None, "user": request.get("user"), "metadata": request.get("metadata") or {},
    }


def message_item(item_id: str, parts: list[_Doc], status: str) -> _Doc:
    """An assistant ``message`` output item with ``output_text``/``refusal`` ``parts``."""
    return {"type": "message", "id": item_id, "status": status, "role": "assistant",
            "content": parts}


def text_part(text: str) -> _Doc:
    return {"type": "output_text", "text": text, "annotations": [], "logprobs": []}


def function_call_item(call_id: str, name: str, arguments: str, status: str) -> _Doc:
    """A ``function_call`` output item; its ``id`` is derived from the tool call id."""
    return {"type": "function_call", "id": f"fc_{call_id}", "call_id": call_id, "name": name,
            "arguments": arguments, "status": status}


def reasoning_item(item_id: str, text: str) -> _Doc:
    """A ``reasoning`` output item carrying the provider's reasoning text."""
    return {"type": "reasoning", "id": item_id, "summary": [],
            "content": [{"type": "reasoning_text", "text": text}]}


def item_id(response_id: str, prefix: str) -> str:
    """The id of an output item of ``response_id`` (``msg_…``, ``rs_…``)."""
    return f"{prefix}_{response_id.removeprefix('resp_')}"


def openai_response_to_responses(body: bytes | _Doc, *, request: _Doc, response_id: str,
                                 created_at: int) -> _Doc:
    """The ``Response`` for an OpenAI ``chat.completion`` (its first choice).

    Args:
        body: the completion, as bytes or decoded JSON.
        request: the client's Responses request (echoed settings, requested model).
        response_id: the ``resp_…`` id to give the response.
        created_at: Unix seconds (the translation reads no clock).

    Raises:
        UpstreamProtocolError: ``body`` is not a chat completion.
    """
    completion = completion_object(body)
    choices = completion.get("choices")
    if not isinstance(choices, list) or not choices or not isinstance(choices[0], dict):
        raise UpstreamProtocolError("The upstream completion has no choices.")
    status, incomplete = response_status(choices[0].get("finish_reason"))
    response = response_envelope(request, response_id=response_id, created_at=created_at,
                                 status=status)
    response["incomplete_details"] = incomplete
    response["output"] = _output(choices[0].get("message") or {}, response_id)
    response["usage"] = responses_usage(completion.get("usage"))
    return response


def _output(message: _Doc, response_id: str) -> list[_Doc]:
    items: list[_Doc] = []
    reasoning = message.get("reasoning_content") or message.get("reasoning")
    if isinstance(reasoning, str) and reasoning:
        items.append(reasoning_item(item_id(response_id, "rs"), reasoning))
    parts = []
    if isinstance(message.get("content"), str) and message["content"]:
        parts.append(text_part(message["content"]))
    if isinstance(message.get("refusal"), str) and message["refusal"]:
        parts.append({"type": "refusal", "refusal": message["refusal"]})
    if parts:
        items.append(message_item(item_id(response_id, "msg"), parts, "completed"))
    for call in message.get("tool_calls") or []:
        if not isinstance(call, dict):
            continue
        function = call.get("function") or {}
        items.append(function_call_item(str(call.get("id") or ""), str(function.get("name", "")),
                                        str(function.get("arguments") or "{}"), "completed"))
    return items
