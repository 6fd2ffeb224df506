"""An OpenAI Chat Completions request, rewritten as a Gemini ``generateContent`` request.

Gemini keeps the system prompt in ``systemInstruction``, calls the assistant ``model``, carries
tool calls and tool results as ``functionCall`` / ``functionResponse`` parts (matched by function
name, not by id) and takes sampling options in ``generationConfig``. Fields with no Gemini meaning
(``user``, ``parallel_tool_calls``, ``logit_bias``) are dropped.
"""

from __future__ import annotations

from typing import Any

import orjson

from router_engine.translation.gemini_content import content_parts
from schemas.errors import InvalidRequest, NotSupported

__all__ = ["THOUGHT_SIGNATURE_BYPASS", "openai_request_to_gemini"]

THOUGHT_SIGNATURE_BYPASS = "skip_thought_signature_validator"
"""Google's documented stand-in signature for function calls the model did not sign itself.

NOTE: Gemini 3 answers 400 when the first ``functionCall`` of a model turn in the history has no
``thoughtSignature``. The canonical (OpenAI) history cannot carry Gemini's opaque signatures, so
every replayed turn gets this stand-in, which Google accepts for transcripts built elsewhere.
"""

_TOOL_CHOICE_MODES = {"none": "NONE", "auto": "AUTO", "required": "ANY"}

_GENERATION_FIELDS = (
    ("temperature", "temperature"),
    ("top_p", "topP"),
    ("n", "candidateCount"),
    ("seed", "seed"),
    ("presence_penalty", "presencePenalty"),
    ("frequency_penalty", "frequencyPenalty"),
)
"""OpenAI field → ``generationConfig`` field, for options that only change name."""

_THINKING_BUDGETS = {"none": 0, "minimal": 512, "low": 1024, "medium": 8192, "high": 24576}
"""``reasoning_effort`` → ``thinkingConfig.thinkingBudget`` (the budgets Google's own OpenAI
compatibility layer uses; Gemini 3 still honours budgets)."""


def openai_request_to_gemini(body: dict[str, Any]) -> dict[str, Any]:
    """The Gemini request body for canonical request ``body`` (which is not mutated).

    Raises:
        InvalidRequest: a message or tool call cannot be read (names the offending ``param``).
        NotSupported: a content part or tool type Gemini cannot take.
    """
    system, contents = _contents(body.get("messages") or [])
    gemini: dict[str, Any] = {"contents": contents}
    if system:
        gemini["systemInstruction"] = {"parts": system}
    if body.get("tools"):
        gemini["tools"] = [{"functionDeclarations": _function_declarations(body["tools"])}]
    if body.get("tool_choice") is not None:
        gemini["toolConfig"] = _tool_config(body["tool_choice"])
    generation = _generation_config(body)
    if generation:
        gemini["generationConfig"] = generation
    return gemini


def _contents(messages: list[dict[str, Any]]) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    system: list[dict[str, Any]] = []
    contents: list[dict[str, Any]] = []
    call_names: dict[str, str] = {}
    for index, message in enumerate(messages):
        role = message.get("role")
        param = f"messages[{index}]"
        if role in ("system", "developer"):
            system.extend(content_parts(message.get("content"), param=param))
            continue
        if role == "user":
            turn = ("user", content_parts(message.get("content"), param=param))
        elif role == "assistant":
            turn = ("model", _model_parts(message, call_names, param=param))
        elif role == "tool":
            turn = ("user", [_function_response(message, call_names, param=param)])
        else:
            raise InvalidRequest(f"unsupported message role {role!r}", param=f"{param}.role")
        _append_turn(contents, *turn)
    return system, contents


def _append_turn(contents: list[dict[str, Any]], role: str, parts: list[dict[str, Any]]) -> None:
    # NOTE: consecutive turns of one role are merged: Gemini wants all the functionResponse parts
    # answering one model turn in a single content, the way OpenAI sends one tool message each.
    if not parts:
        return
    if contents and contents[-1]["role"] == role:
        contents[-1]["parts"].extend(parts)
    else:
        contents.append({"role": role, "parts": parts})


def _model_parts(
    message: dict[str, Any], call_names: dict[str, str], *, param: str
) -> list[dict[str, Any]]:
    parts = content_parts(message.get("content"), param=param)
    for position, call in enumerate(message.get("tool_calls") or []):
        where = f"{param}.tool_calls[{position}]"
        function = call.get("function") or {}
        name = function.get("name")
        if not isinstance(name, str) or not name:
            raise InvalidRequest("a tool call names no function", param=f"{where}.function.name")
        call_names[str(call.get("id"))] = name
        part: dict[str, Any] = {"functionCall": {"name": name, "args": _arguments(function, where)}}
        if position == 0:
            part["thoughtSignature"] = THOUGHT_SIGNATURE_BYPASS
        parts.append(part)
    return parts


def _arguments(function: dict[str, Any], where: str) -> dict[str, Any]:
    raw = function.get("arguments") or "{}"
    try:
        args = orjson.loads(raw) if isinstance(raw, str | bytes) else raw
    except orjson.JSONDecodeError:
        raise InvalidRequest(
            "tool call arguments are not valid JSON", param=f"{where}.function.arguments"
        ) from None
    if not isinstance(args, dict):
        raise InvalidRequest(
            "tool call arguments must be a JSON object", param=f"{where}.function.arguments"
        )
    return args


def _function_response(
    message: dict[str, Any], call_names: dict[str, str], *, param: str
) -> dict[str, Any]:
    name = call_names.get(str(message.get("tool_call_id")))
    if name is None:
        raise InvalidRequest(
            "tool message answers no earlier assistant tool call", param=f"{param}.tool_call_id"
        )
    parts = content_parts(message.get("content"), param=param)
    output = "".join(str(part.get("text", "")) for part in parts)
    return {"functionResponse": {"name": name, "response": _response_object(output)}}


def _response_object(output: str) -> dict[str, Any]:
    # NOTE: Gemini's functionResponse.response must be an object; a JSON object result is passed
    # as is, anything else goes under "output", the key Google's documentation uses.
    try:
        parsed = orjson.loads(output)
    except orjson.JSONDecodeError:
        return {"output": output}
    return parsed if isinstance(parsed, dict) else {"output": parsed}


def _function_declarations(tools: list[dict[str, Any]]) -> list[dict[str, Any]]:
    declarations = []
    for index, tool in enumerate(tools):
        if tool.get("type", "function") != "function" or "function" not in tool:
            raise NotSupported("only function tools can be sent to Gemini", param=f"tools[{index}]")
        function = tool["function"]
        if not isinstance(function.get("name"), str) or not function["name"]:
            raise InvalidRequest("a tool names no function", param=f"tools[{index}].function.name")
        declaration: dict[str, Any] = {"name": function["name"]}
        if function.get("description"):
            declaration["description"] = function["description"]
        if function.get("parameters"):
            # NOTE: parametersJsonSchema takes full JSON Schema (additionalProperties, $defs...)
            # where `parameters` takes only Google's OpenAPI subset and rejects OpenAI schemas.
            declaration["parametersJsonSchema"] = function["parameters"]
        declarations.append(declaration)
    return declarations


def _tool_config(choice: str | dict[str, Any]) -> dict[str, Any]:
    if isinstance(choice, str):
        mode = _TOOL_CHOICE_MODES.get(choice)
        if mode is None:
            raise InvalidRequest(f"unknown tool_choice {choice!r}", param="tool_choice")
        return {"functionCallingConfig": {"mode": mode}}
    name = (choice.get("function") or {}).get("name")
    if not isinstance(name, str):
        raise InvalidRequest("tool_choice names no function", param="tool_choice.function.name")
    return {"functionCallingConfig": {"mode": "ANY", "allowedFunctionNames": [name]}}


def _generation_config(body: dict[str, Any]) -> dict[str, Any]:
    config = {gemini: body[key] for key, gemini in _GENERATION_FIELDS if body.get(key) is not None}
    cap = body.get("max_completion_tokens", body.get("max_tokens"))
    if cap is not None:
        config["maxOutputTokens"] = cap
    stop = body.get("stop")
    if stop:
        config["stopSequences"] = [stop] if isinstance(stop, str) else list(stop)
    if body.get("logprobs"):
        config["responseLogprobs"] = True
        if body.get("top_logprobs"):
            config["logprobs"] = body["top_logprobs"]
    if body.get("reasoning_effort") in _THINKING_BUDGETS:
        config["thinkingConfig"] = {"thinkingBudget": _THINKING_BUDGETS[body["reasoning_effort"]]}
    config.update(_response_format(body.get("response_format")))
    return config


def _response_format(response_format: dict[str, Any] | None) -> dict[str, Any]:
    response_format = response_format or {}
    kind = response_format.get("type", "text")
    if kind == "text":
        return {}
    if kind == "json_object":
        return {"responseMimeType": "application/json"}
    if kind == "json_schema":
        schema = (response_format.get("json_schema") or {}).get("schema")
        if not isinstance(schema, dict):
            raise InvalidRequest(
                "response_format.json_schema needs a schema", param="response_format.json_schema"
            )
        # NOTE: responseJsonSchema, like parametersJsonSchema, accepts the JSON Schema OpenAI
        # clients send (responseSchema would reject additionalProperties from strict schemas).
        return {"responseMimeType": "application/json", "responseJsonSchema": schema}
    raise InvalidRequest(f"unknown response_format type {kind!r}", param="response_format.type")
