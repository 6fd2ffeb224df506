"""An Anthropic Messages request (``POST /v1/messages``), validated and rewritten for the router.

The router speaks OpenAI Chat Completions, so an Anthropic-SDK client's request becomes the
equivalent OpenAI request and can be served by any provider. Validation happens here, at the
edge, with errors naming the offending ``param`` the way Anthropic's own API does.

Dropped on purpose (no OpenAI equivalent, and OpenAI rejects unknown fields): ``top_k``,
``cache_control`` markers, thinking blocks sent back in assistant turns, ``metadata`` other than
``user_id``. ``thinking`` becomes ``reasoning_effort`` by budget.
"""

from __future__ import annotations

from typing import Any

import orjson

from router_engine.translation.anthropic_content import openai_media_part
from schemas.errors import InvalidRequest, NotSupported

__all__ = ["anthropic_request_to_openai"]

_Body = dict[str, Any]
_TOOL_CHOICES = {"auto": "auto", "any": "required", "none": "none"}


def anthropic_request_to_openai(body: Any) -> _Body:
    """The OpenAI chat request for Anthropic Messages request ``body`` (which is not mutated).

    Raises:
        InvalidRequest: ``body`` is not a valid Messages request; ``param`` names the field.
        NotSupported: it uses something only Anthropic offers (server tools, text documents).
    """
    if not isinstance(body, dict):
        raise InvalidRequest("The request body must be a JSON object.")
    out: _Body = {
        "model": _required_string(body, "model"),
        "messages": _system(body.get("system")) + _messages(body.get("messages")),
        "max_tokens": _positive_int(body, "max_tokens"),
    }
    _copy_sampling(body, out)
    _copy_tools(body, out)
    _copy_thinking(body.get("thinking"), out)
    if _optional(body, "stream", bool):
        out["stream"] = True
        out["stream_options"] = {"include_usage": True}  # the Anthropic stream reports usage
    user = (_optional(body, "metadata", dict) or {}).get("user_id")
    if isinstance(user, str) and user:
        out["user"] = user
    return out


def _required_string(body: _Body, name: str) -> str:
    value = body.get(name)
    if not isinstance(value, str) or not value:
        raise InvalidRequest(f"{name}: Field required (a non-empty string).", param=name)
    return value


def _positive_int(body: _Body, name: str) -> int:
    value = body.get(name)
    if not isinstance(value, int) or isinstance(value, bool) or value < 1:
        raise InvalidRequest(f"{name}: Field required (a positive integer).", param=name)
    return value


def _optional(body: _Body, name: str, kind: type | tuple[type, ...]) -> Any:
    value = body.get(name)
    if value is None:
        return None
    is_bool_for_number = isinstance(value, bool) and kind is not bool
    if not isinstance(value, kind) or is_bool_for_number:
        raise InvalidRequest(f"{name}: has the wrong type.", param=name)
    return value


def _copy_sampling(body: _Body, out: _Body) -> None:
    for name in ("temperature", "top_p"):
        value = _optional(body, name, (int, float))
        if value is not None:
            out[name] = value
    stop = _optional(body, "stop_sequences", list)
    if stop:
        if not all(isinstance(item, str) for item in stop):
            raise InvalidRequest("stop_sequences: must be a list of strings.",
                                 param="stop_sequences")
        out["stop"] = stop


def _copy_thinking(thinking: Any, out: _Body) -> None:
    if not isinstance(thinking, dict) or thinking.get("type") != "enabled":
        return
    budget = thinking.get("budget_tokens")
    if not isinstance(budget, int) or isinstance(budget, bool):
        raise InvalidRequest("thinking.budget_tokens: must be an integer.",
                             param="thinking.budget_tokens")
    out["reasoning_effort"] = "low" if budget < 4096 else "medium" if budget < 16384 else "high"


def _system(system: Any) -> list[_Body]:
    if system is None or system == "":
        return []
    if isinstance(system, str):
        return [{"role": "system", "content": system}]
    if not isinstance(system, list):
        raise InvalidRequest("system: must be a string or a list of text blocks.", param="system")
    texts = [_text_block(block, f"system[{index}]") for index, block in enumerate(system)]
    return [{"role": "system", "content": "\n\n".join(texts)}] if texts else []


def _text_block(block: Any, param: str) -> str:
    if not isinstance(block, dict) or block.get("type") != "text":
        raise InvalidRequest(f"{param}: must be a text block.", param=param)
    text = block.get("text")
    if not isinstance(text, str):
        raise InvalidRequest(f"{param}.text: must be a string.", param=f"{param}.text")
    return text


def _messages(messages: Any) -> list[_Body]:
    if not isinstance(messages, list) or not messages:
        raise InvalidRequest("messages: Field required (a non-empty list).", param="messages")
    out: list[_Body] = []
    for index, message in enumerate(messages):
        param = f"messages[{index}]"
        if not isinstance(message, dict) or message.get("role") not in ("user", "assistant"):
            raise InvalidRequest(f"{param}.role: must be 'user' or 'assistant'.",
                                 param=f"{param}.role")
        content = message.get("content")
        if isinstance(content, str):
            out.append({"role": message["role"], "content": content})
        elif not isinstance(content, list):
            raise InvalidRequest(f"{param}.content: must be a string or a list of blocks.",
                                 param=f"{param}.content")
        elif message["role"] == "user":
            out.extend(_user_turn(content, f"{param}.content"))
        else:
            out.extend(_assistant_turn(content, f"{param}.content"))
    return out


def _user_turn(blocks: list[Any], param: str) -> list[_Body]:
    """Tool results first (OpenAI wants them right after the tool calls), then the user's parts."""
    tool_messages: list[_Body] = []
    parts: list[_Body] = []
    for index, block in enumerate(blocks):
        kind = _block_type(block, f"{param}[{index}]")
        if kind == "tool_result":
            tool_messages.append(_tool_message(block, f"{param}[{index}]"))
        elif kind == "text":
            parts.append({"type": "text", "text": _text_block(block, f"{param}[{index}]")})
        elif kind in ("image", "document"):
            parts.append(openai_media_part(block, param=f"{param}[{index}]"))
        else:
            raise NotSupported(f"{param}[{index}]: block type {kind!r} is not supported here.",
                               param=f"{param}[{index}].type")
    if not parts:
        return tool_messages
    only_text = len(parts) == 1 and parts[0]["type"] == "text"
    return [*tool_messages, {"role": "user", "content": parts[0]["text"] if only_text else parts}]


def _block_type(block: Any, param: str) -> str:
    kind = block.get("type") if isinstance(block, dict) else None
    if not isinstance(kind, str):
        raise InvalidRequest(f"{param}.type: Field required.", param=f"{param}.type")
    return kind


def _tool_message(block: _Body, param: str) -> _Body:
    tool_use_id = block.get("tool_use_id")
    if not isinstance(tool_use_id, str) or not tool_use_id:
        raise InvalidRequest(f"{param}.tool_use_id: Field required.", param=f"{param}.tool_use_id")
    content = block.get("content")
    if isinstance(content, list):
        content = "".join(_text_block(item, f"{param}.content[{i}]")
                          for i, item in enumerate(content))
    elif content is not None and not isinstance(content, str):
        raise InvalidRequest(f"{param}.content: must be a string or text blocks.",
                             param=f"{param}.content")
    return {"role": "tool", "tool_call_id": tool_use_id, "content": content or ""}


def _assistant_turn(blocks: list[Any], param: str) -> list[_Body]:
    """The assistant message, or none when only thinking was sent back (OpenAI wants content)."""
    texts: list[str] = []
    calls: list[_Body] = []
    for index, block in enumerate(blocks):
        kind = _block_type(block, f"{param}[{index}]")
        if kind == "text":
            texts.append(_text_block(block, f"{param}[{index}]"))
        elif kind == "tool_use":
            calls.append(_tool_call(block, f"{param}[{index}]"))
        elif kind not in ("thinking", "redacted_thinking"):  # only Anthropic can read those back
            raise NotSupported(f"{param}[{index}]: block type {kind!r} is not supported here.",
                               param=f"{param}[{index}].type")
    if not texts and not calls:
        return []
    message: _Body = {"role": "assistant", "content": "".join(texts) if texts else None}
    if calls:
        message["tool_calls"] = calls
    return [message]


def _tool_call(block: _Body, param: str) -> _Body:
    name, call_id, arguments = block.get("name"), block.get("id"), block.get("input", {})
    if not isinstance(name, str) or not isinstance(call_id, str) or not isinstance(arguments, dict):
        raise InvalidRequest(f"{param}: tool_use needs an id, a name and an input object.",
                             param=param)
    return {"id": call_id, "type": "function",
            "function": {"name": name, "arguments": orjson.dumps(arguments).decode()}}


def _copy_tools(body: _Body, out: _Body) -> None:
    tools = _optional(body, "tools", list)
    if tools:
        out["tools"] = [_tool(tool, f"tools[{index}]") for index, tool in enumerate(tools)]
    choice = _optional(body, "tool_choice", dict)
    if choice is None or not tools:
        return
    kind = choice.get("type")
    if kind == "tool":
        if not isinstance(choice.get("name"), str):
            raise InvalidRequest("tool_choice.name: Field required.", param="tool_choice.name")
        out["tool_choice"] = {"type": "function", "function": {"name": choice["name"]}}
    elif kind in _TOOL_CHOICES:
        out["tool_choice"] = _TOOL_CHOICES[kind]
    else:
        raise InvalidRequest(f"tool_choice.type: {kind!r} is not valid.", param="tool_choice.type")
    if choice.get("disable_parallel_tool_use") is True:
        out["parallel_tool_calls"] = False


def _tool(tool: Any, param: str) -> _Body:
    if not isinstance(tool, dict):
        raise InvalidRequest(f"{param}: must be an object.", param=param)
    if tool.get("type") not in (None, "custom"):
        raise NotSupported(f"{param}: Anthropic server tools ({tool.get('type')!r}) are only "
                           "available from Anthropic itself.", param=f"{param}.type")
    name, schema = tool.get("name"), tool.get("input_schema")
    if not isinstance(name, str) or not name or not isinstance(schema, dict):
        raise InvalidRequest(f"{param}: a tool needs a name and an input_schema object.",
                             param=param)
    function: _Body = {"name": name, "parameters": schema}
    if isinstance(tool.get("description"), str):
        function["description"] = tool["description"]
    return {"type": "function", "function": function}
