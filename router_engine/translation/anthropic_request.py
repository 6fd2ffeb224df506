"""An OpenAI Chat Completions request, rewritten as an Anthropic Messages request.

Anthropic keeps the system prompt out of ``messages``, requires ``max_tokens``, puts tool calls
and tool results in content blocks and wants user and assistant turns to alternate. Fields with
no Anthropic meaning (``seed``, penalties, ``logit_bias``) are dropped; fields whose loss would
change the answer the client expects (``n > 1``, ``logprobs``) are refused with ``NotSupported``.
"""

from __future__ import annotations

from typing import Any

import orjson

from router_engine.translation.anthropic_content import image_block, text_parts
from schemas.errors import InvalidRequest, NotSupported

__all__ = ["DEFAULT_MAX_TOKENS", "openai_request_to_anthropic"]

DEFAULT_MAX_TOKENS = 4096
"""``max_tokens`` sent when the client set no limit: Anthropic refuses a request without one."""

_THINKING_BUDGETS = {"minimal": 1024, "low": 1024, "medium": 4096, "high": 16384}
"""``reasoning_effort`` → Anthropic ``thinking.budget_tokens`` (1024 is Anthropic's minimum)."""

_JSON_INSTRUCTION = "Respond only with a single valid JSON object, with no text before or after it."


def openai_request_to_anthropic(
    body: dict[str, Any], *, model: str, is_streaming: bool
) -> dict[str, Any]:
    """The Anthropic Messages body for canonical request ``body`` (which is not mutated).

    Raises:
        InvalidRequest: a message or tool call cannot be read (names the offending ``param``).
        NotSupported: the request needs something Anthropic cannot do (``n > 1``, logprobs).
    """
    _refuse_unsupported(body)
    system, messages = _split_messages(body.get("messages") or [])
    system.extend(_response_format_instruction(body.get("response_format")))
    out: dict[str, Any] = {"model": model, "messages": messages, "max_tokens": _max_tokens(body)}
    if system:
        out["system"] = system
    _copy_sampling(body, out)
    _copy_tools(body, out)
    _copy_thinking(body, out)
    if is_streaming:
        out["stream"] = True
    return out


def _refuse_unsupported(body: dict[str, Any]) -> None:
    if (body.get("n") or 1) > 1:
        raise NotSupported("Anthropic models return one choice; n must be 1.", param="n")
    if body.get("logprobs"):
        raise NotSupported("Anthropic models do not return logprobs.", param="logprobs")


def _max_tokens(body: dict[str, Any]) -> int:
    for name in ("max_completion_tokens", "max_tokens"):
        value = body.get(name)
        if value is not None:
            if not isinstance(value, int) or isinstance(value, bool) or value < 1:
                raise InvalidRequest(f"{name} must be a positive integer.", param=name)
            return value
    return DEFAULT_MAX_TOKENS


def _copy_sampling(body: dict[str, Any], out: dict[str, Any]) -> None:
    temperature = body.get("temperature")
    if temperature is not None:
        # NOTE: OpenAI allows 0-2, Anthropic 0-1; the top of OpenAI's range means "most random".
        out["temperature"] = min(float(temperature), 1.0)
    if body.get("top_p") is not None:
        out["top_p"] = body["top_p"]
    stop = body.get("stop")
    if stop:
        out["stop_sequences"] = [stop] if isinstance(stop, str) else list(stop)
    user = body.get("user")
    if isinstance(user, str) and user:
        out["metadata"] = {"user_id": user}


def _copy_thinking(body: dict[str, Any], out: dict[str, Any]) -> None:
    budget = _THINKING_BUDGETS.get(body.get("reasoning_effort") or "")
    forces_tool = out.get("tool_choice", {}).get("type") in ("any", "tool")
    if budget is None or forces_tool:
        return  # NOTE: Anthropic refuses thinking together with a forced tool choice
    out["thinking"] = {"type": "enabled", "budget_tokens": budget}
    if out["max_tokens"] <= budget:
        out["max_tokens"] += budget  # Anthropic counts thinking inside max_tokens
    # NOTE: Anthropic refuses a changed temperature while thinking.
    out.pop("temperature", None)


def _response_format_instruction(response_format: Any) -> list[dict[str, Any]]:
    if not isinstance(response_format, dict):
        return []
    kind = response_format.get("type")
    if kind == "json_object":
        return [{"type": "text", "text": _JSON_INSTRUCTION}]
    if kind == "json_schema":
        spec = response_format.get("json_schema") or {}
        schema = orjson.dumps(spec.get("schema", {})).decode()
        text = f"{_JSON_INSTRUCTION} The object must match this JSON schema: {schema}"
        return [{"type": "text", "text": text}]
    return []


def _split_messages(messages: list[Any]) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """System blocks, and the conversation with consecutive same-role turns merged."""
    system: list[dict[str, Any]] = []
    turns: list[dict[str, Any]] = []
    for index, message in enumerate(messages):
        role = message.get("role") if isinstance(message, dict) else None
        if role in ("system", "developer"):
            system.extend(_system_blocks(message.get("content"), index))
            continue
        role, blocks = _turn(message, index)
        if not blocks:
            continue  # Anthropic refuses a turn with empty content
        if turns and turns[-1]["role"] == role:
            turns[-1]["content"].extend(blocks)
        else:
            turns.append({"role": role, "content": blocks})
    return system, turns


def _system_blocks(content: Any, index: int) -> list[dict[str, Any]]:
    return _text_blocks(content, f"messages[{index}].content")


def _text_blocks(content: Any, param: str) -> list[dict[str, Any]]:
    return [{"type": "text", "text": text} for text in text_parts(content, param=param)]


def _turn(message: Any, index: int) -> tuple[str, list[dict[str, Any]]]:
    param = f"messages[{index}]"
    if not isinstance(message, dict):
        raise InvalidRequest(f"{param} must be an object.", param=param)
    role = message.get("role")
    if role == "user":
        return "user", _user_blocks(message.get("content"), f"{param}.content")
    if role == "assistant":
        return "assistant", _assistant_blocks(message, param)
    if role == "tool":
        return "user", [_tool_result(message, param)]
    raise InvalidRequest(f"{param}.role {role!r} is not supported.", param=f"{param}.role")


def _user_blocks(content: Any, param: str) -> list[dict[str, Any]]:
    if isinstance(content, str):
        return [{"type": "text", "text": content}] if content else []
    if not isinstance(content, list):
        raise InvalidRequest(f"{param} must be a string or a list of parts.", param=param)
    blocks = []
    for index, part in enumerate(content):
        kind = part.get("type") if isinstance(part, dict) else None
        if kind == "text":
            if part.get("text"):
                blocks.append({"type": "text", "text": part["text"]})
        elif kind in ("image_url", "file"):
            blocks.append(image_block(part, param=f"{param}[{index}]"))
        else:
            raise NotSupported(f"{param}[{index}]: part type {kind!r} is not supported.",
                               param=f"{param}[{index}].type")
    return blocks


def _assistant_blocks(message: dict[str, Any], param: str) -> list[dict[str, Any]]:
    blocks = _text_blocks(message.get("content"), f"{param}.content")
    for index, call in enumerate(message.get("tool_calls") or []):
        blocks.append(_tool_use(call, f"{param}.tool_calls[{index}]"))
    return blocks


def _tool_use(call: Any, param: str) -> dict[str, Any]:
    function = call.get("function") if isinstance(call, dict) else None
    if not isinstance(function, dict) or not function.get("name") or not call.get("id"):
        raise InvalidRequest(f"{param} needs an id and a function name.", param=param)
    try:
        arguments = orjson.loads(function.get("arguments") or "{}")
    except orjson.JSONDecodeError:
        raise InvalidRequest(f"{param}.function.arguments is not valid JSON.",
                             param=f"{param}.function.arguments") from None
    if not isinstance(arguments, dict):
        raise InvalidRequest(f"{param}.function.arguments must be a JSON object.",
                             param=f"{param}.function.arguments")
    return {"type": "tool_use", "id": call["id"], "name": function["name"], "input": arguments}


def _tool_result(message: dict[str, Any], param: str) -> dict[str, Any]:
    tool_call_id = message.get("tool_call_id")
    if not tool_call_id:
        raise InvalidRequest(f"{param}.tool_call_id is required.", param=f"{param}.tool_call_id")
    content = message.get("content")
    blocks: str | list[dict[str, Any]] = (
        content if isinstance(content, str) else _text_blocks(content, f"{param}.content")
    )
    return {"type": "tool_result", "tool_use_id": tool_call_id, "content": blocks}


def _copy_tools(body: dict[str, Any], out: dict[str, Any]) -> None:
    tools = body.get("tools")
    choice = body.get("tool_choice")
    if not tools:
        return
    out["tools"] = [_tool(tool, f"tools[{index}]") for index, tool in enumerate(tools)]
    anthropic_choice = _tool_choice(choice)
    if body.get("parallel_tool_calls") is False:
        anthropic_choice = {**(anthropic_choice or {"type": "auto"}),
                            "disable_parallel_tool_use": True}
    if anthropic_choice is not None:
        out["tool_choice"] = anthropic_choice


def _tool(tool: Any, param: str) -> dict[str, Any]:
    function = tool.get("function") if isinstance(tool, dict) else None
    if not isinstance(function, dict) or tool.get("type", "function") != "function":
        raise NotSupported(f"{param}: only function tools are supported.", param=f"{param}.type")
    if not function.get("name"):
        raise InvalidRequest(f"{param}.function.name is required.", param=f"{param}.function.name")
    out = {"name": function["name"],
           "input_schema": function.get("parameters") or {"type": "object", "properties": {}}}
    if function.get("description"):
        out["description"] = function["description"]
    return out


def _tool_choice(choice: Any) -> dict[str, Any] | None:
    if choice is None:
        return None
    if isinstance(choice, str):
        mapped = {"auto": "auto", "required": "any", "none": "none"}.get(choice)
        if mapped is None:
            raise InvalidRequest(f"tool_choice {choice!r} is not valid.", param="tool_choice")
        return {"type": mapped}
    name = (choice.get("function") or {}).get("name") if isinstance(choice, dict) else None
    if not name:
        raise InvalidRequest("tool_choice must name a function.", param="tool_choice")
    return {"type": "tool", "name": name}
