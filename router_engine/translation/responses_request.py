"""A Responses API request (``POST /v1/responses``), validated and rewritten as a chat request.

The gateway serves the Responses API statelessly: every call carries its whole conversation in
``input``, so anything that needs stored state (``previous_response_id``, ``conversation``,
``item_reference`` items, ``background``) is refused with ``NotSupported``, as are hosted tools
(web search, file search, code interpreter...), which only OpenAI runs. What remains maps onto
Chat Completions one to one:

===========================  ================================================================
Responses                    Chat Completions
===========================  ================================================================
``instructions``             a leading ``system`` message
``input`` (string)           one ``user`` message
message items                messages (``input_text``/``output_text`` → text parts,
                             ``input_image`` → ``image_url`` parts)
``function_call`` items      ``tool_calls`` of an assistant message (consecutive ones merged)
``function_call_output``     ``tool`` messages
``reasoning`` items          dropped (only the model that wrote them can read them back)
``tools`` (function)         ``tools`` (``{"type": "function", "function": {...}}``)
``tool_choice``              ``tool_choice``
``max_output_tokens``        ``max_completion_tokens``
``text.format``              ``response_format`` (``json_object``, ``json_schema``)
``reasoning.effort``         ``reasoning_effort``
``safety_identifier``/user   ``user``
===========================  ================================================================
"""

from __future__ import annotations

from typing import Any

import orjson

from schemas.errors import InvalidRequest, NotSupported

__all__ = ["responses_request_to_openai"]

_Body = dict[str, Any]
_STATEFUL = ("previous_response_id", "conversation", "prompt")
_COPIED = ("temperature", "top_p", "parallel_tool_calls", "stream", "service_tier")
_MESSAGE_ROLES = frozenset({"user", "assistant", "system", "developer"})


def responses_request_to_openai(body: Any) -> _Body:
    """The chat request for Responses API request ``body`` (which is not mutated).

    Raises:
        InvalidRequest: ``body`` is not a valid Responses request; ``param`` names the field.
        NotSupported: it needs stored state or a hosted tool.
    """
    if not isinstance(body, dict):
        raise InvalidRequest("The request body must be a JSON object.")
    model = body.get("model")
    if not isinstance(model, str) or not model:
        raise InvalidRequest("Missing required parameter: 'model'.", param="model")
    for name in _STATEFUL:
        if body.get(name) is not None:
            raise NotSupported(f"{name} needs stored responses; this gateway is stateless: send "
                               "the whole conversation in 'input'.", param=name)
    if body.get("background"):
        raise NotSupported("Background responses are not supported.", param="background")
    out: _Body = {"model": model, "messages": _instructions(body.get("instructions"))
                  + _input(body.get("input"))}
    out.update({name: body[name] for name in _COPIED if body.get(name) is not None})
    if out.get("stream"):
        out["stream_options"] = {"include_usage": True}
    _copy_limits(body, out)
    _copy_tools(body, out)
    _copy_text_format(body.get("text"), out)
    return out


def _instructions(instructions: Any) -> list[_Body]:
    if instructions is None or instructions == "":
        return []
    if not isinstance(instructions, str):
        raise InvalidRequest("instructions must be a string.", param="instructions")
    return [{"role": "system", "content": instructions}]


def _input(value: Any) -> list[_Body]:
    if isinstance(value, str):
        return [{"role": "user", "content": value}]
    if not isinstance(value, list) or not value:
        raise InvalidRequest("input must be a string or a non-empty list of items.",
                             param="input")
    messages: list[_Body] = []
    for index, item in enumerate(value):
        param = f"input[{index}]"
        if not isinstance(item, dict):
            raise InvalidRequest(f"{param} must be an object.", param=param)
        kind = item.get("type") or ("message" if "role" in item else None)
        if kind == "message":
            messages.append(_message(item, param))
        elif kind == "function_call":
            _append_call(messages, item, param)
        elif kind == "function_call_output":
            messages.append(_call_output(item, param))
        elif kind != "reasoning":
            raise NotSupported(f"{param}: input items of type {kind!r} are not supported.",
                               param=f"{param}.type")
    return messages


def _message(item: _Body, param: str) -> _Body:
    role = item.get("role")
    if role not in _MESSAGE_ROLES:
        raise InvalidRequest(f"{param}.role must be one of user, assistant, system, developer.",
                             param=f"{param}.role")
    content = item.get("content")
    if isinstance(content, str):
        return {"role": role, "content": content}
    if not isinstance(content, list):
        raise InvalidRequest(f"{param}.content must be a string or a list of parts.",
                             param=f"{param}.content")
    parts = [_part(part, f"{param}.content[{i}]") for i, part in enumerate(content)]
    if role != "user" or all(part["type"] == "text" for part in parts):
        if any(part["type"] != "text" for part in parts):
            raise NotSupported(f"{param}: only user messages can carry images.",
                               param=f"{param}.content")
        return {"role": role, "content": "".join(part["text"] for part in parts)}
    return {"role": role, "content": parts}


def _part(part: Any, param: str) -> _Body:
    kind = part.get("type") if isinstance(part, dict) else None
    if kind in ("input_text", "output_text", "text"):
        text = part.get("text")
        if not isinstance(text, str):
            raise InvalidRequest(f"{param}.text must be a string.", param=f"{param}.text")
        return {"type": "text", "text": text}
    if kind == "refusal" and isinstance(part.get("refusal"), str):
        return {"type": "text", "text": part["refusal"]}
    if kind == "input_image":
        url = part.get("image_url")
        if not isinstance(url, str) or not url:
            raise NotSupported(f"{param}: images must be given by image_url (file_id needs "
                               "stored files).", param=f"{param}.image_url")
        image: _Body = {"url": url}
        if isinstance(part.get("detail"), str):
            image["detail"] = part["detail"]
        return {"type": "image_url", "image_url": image}
    raise NotSupported(f"{param}: content parts of type {kind!r} are not supported.",
                       param=f"{param}.type")


def _append_call(messages: list[_Body], item: _Body, param: str) -> None:
    """A ``function_call`` item; consecutive calls share one assistant message (parallel)."""
    call_id, name, arguments = item.get("call_id"), item.get("name"), item.get("arguments")
    if not all(isinstance(value, str) and value for value in (call_id, name)):
        raise InvalidRequest(f"{param}: a function_call needs call_id and name.", param=param)
    if not isinstance(arguments, str):
        arguments = orjson.dumps(arguments if arguments is not None else {}).decode()
    call = {"id": call_id, "type": "function", "function": {"name": name, "arguments": arguments}}
    last = messages[-1] if messages else None
    if last is not None and last["role"] == "assistant" and "tool_calls" in last:
        last["tool_calls"].append(call)
    elif last is not None and last["role"] == "assistant" and isinstance(last.get("content"),
                                                                        str):
        last["tool_calls"] = [call]
    else:
        messages.append({"role": "assistant", "content": None, "tool_calls": [call]})


def _call_output(item: _Body, param: str) -> _Body:
    call_id, output = item.get("call_id"), item.get("output")
    if not isinstance(call_id, str) or not call_id:
        raise InvalidRequest(f"{param}.call_id is required.", param=f"{param}.call_id")
    if isinstance(output, list):
        output = "".join(_part(part, f"{param}.output[{i}]")["text"]
                         for i, part in enumerate(output))
    elif not isinstance(output, str):
        raise InvalidRequest(f"{param}.output must be a string.", param=f"{param}.output")
    return {"role": "tool", "tool_call_id": call_id, "content": output}


def _copy_limits(body: _Body, out: _Body) -> None:
    limit = body.get("max_output_tokens")
    if limit is not None:
        if not isinstance(limit, int) or isinstance(limit, bool) or limit < 1:
            raise InvalidRequest("max_output_tokens must be a positive integer.",
                                 param="max_output_tokens")
        out["max_completion_tokens"] = limit
    effort = (body.get("reasoning") or {}).get("effort") if isinstance(
        body.get("reasoning"), dict) else None
    if isinstance(effort, str):
        out["reasoning_effort"] = effort
    user = body.get("safety_identifier") or body.get("user")
    if isinstance(user, str) and user:
        out["user"] = user


def _copy_tools(body: _Body, out: _Body) -> None:
    tools = body.get("tools")
    if tools:
        if not isinstance(tools, list):
            raise InvalidRequest("tools must be a list.", param="tools")
        out["tools"] = [_tool(tool, f"tools[{i}]") for i, tool in enumerate(tools)]
    choice = body.get("tool_choice")
    if choice is None or not tools:
        return
    if choice in ("auto", "none", "required"):
        out["tool_choice"] = choice
    elif isinstance(choice, dict) and choice.get("type") == "function" and isinstance(
            choice.get("name"), str):
        out["tool_choice"] = {"type": "function", "function": {"name": choice["name"]}}
    else:
        raise NotSupported("tool_choice must be auto, none, required or a function.",
                           param="tool_choice")


def _tool(tool: Any, param: str) -> _Body:
    if not isinstance(tool, dict) or tool.get("type") != "function":
        kind = tool.get("type") if isinstance(tool, dict) else None
        raise NotSupported(f"{param}: only function tools are supported (got {kind!r}); hosted "
                           "tools run only at OpenAI.", param=f"{param}.type")
    name = tool.get("name")
    if not isinstance(name, str) or not name:
        raise InvalidRequest(f"{param}.name is required.", param=f"{param}.name")
    function: _Body = {"name": name, "parameters": tool.get("parameters") or
                       {"type": "object", "properties": {}}}
    for key in ("description", "strict"):
        if tool.get(key) is not None:
            function[key] = tool[key]
    return {"type": "function", "function": function}


def _copy_text_format(text: Any, out: _Body) -> None:
    spec = text.get("format") if isinstance(text, dict) else None
    if not isinstance(spec, dict) or spec.get("type") in (None, "text"):
        return
    if spec["type"] == "json_object":
        out["response_format"] = {"type": "json_object"}
    elif spec["type"] == "json_schema":
        if not isinstance(spec.get("name"), str) or not isinstance(spec.get("schema"), dict):
            raise InvalidRequest("text.format json_schema needs a name and a schema.",
                                 param="text.format")
        schema = {key: spec[key] for key in ("name", "schema", "strict", "description")
                  if spec.get(key) is not None}
        out["response_format"] = {"type": "json_schema", "json_schema": schema}
    else:
        raise InvalidRequest(f"text.format.type {spec['type']!r} is not valid.",
                             param="text.format.type")
