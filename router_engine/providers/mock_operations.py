"""What the in-process ``mock`` provider answers besides plain chat text.

- Embeddings: a deterministic unit vector per input (``dimensions`` long, 16 by default), derived
  from the input's bytes, so equal inputs embed equally and tests can recompute them.
- Legacy completions: the same echo reply as chat, as a ``text_completion``.
- Tool calls: when a chat request offers tools and forces a call (``tool_choice`` ``required``
  or a named function) and its last message is not already a tool result, the reply calls the
  first allowed tool with arguments sampled from its JSON schema (required properties only).

Everything here is pure: bodies in, bodies out; the transport handler in ``mock`` does the rest.
"""

from __future__ import annotations

import hashlib
import math
from typing import Any

import orjson

from router_engine.providers.openai_operations import encode_embedding, input_tokens

__all__ = ["DEFAULT_DIMENSIONS", "mock_embeddings", "mock_tool_calls", "sample_arguments"]

DEFAULT_DIMENSIONS = 16
_MAX_DIMENSIONS = 4096
_SAMPLES: dict[str, Any] = {"string": "mock", "integer": 1, "number": 1.0, "boolean": True,
                            "array": [], "object": {}}


def _vector(text: str, dimensions: int) -> list[float]:
    digest = hashlib.shake_256(text.encode()).digest(2 * dimensions)
    raw = [int.from_bytes(digest[i:i + 2], "big") / 32767.5 - 1.0
           for i in range(0, 2 * dimensions, 2)]
    norm = math.sqrt(sum(v * v for v in raw)) or 1.0
    return [round(v / norm, 6) for v in raw]


def mock_embeddings(body: dict[str, Any], model: str) -> dict[str, Any]:
    """OpenAI's embeddings ``list`` for ``body``; usage counts the inputs' tokens."""
    inputs = body.get("input")
    items = [inputs] if isinstance(inputs, str) or (
        isinstance(inputs, list) and inputs and isinstance(inputs[0], int)) else inputs
    items = items if isinstance(items, list) else []
    requested = body.get("dimensions")
    dimensions = requested if isinstance(requested, int) and 0 < requested <= _MAX_DIMENSIONS \
        else DEFAULT_DIMENSIONS
    data = []
    for index, item in enumerate(items):
        text = item if isinstance(item, str) else orjson.dumps(item).decode()
        vector = _vector(text, dimensions)
        data.append({"object": "embedding", "index": index,
                     "embedding": encode_embedding(vector, body.get("encoding_format"))})
    tokens = input_tokens(inputs, model)
    return {"object": "list", "data": data, "model": model,
            "usage": {"prompt_tokens": tokens, "total_tokens": tokens}}


def sample_arguments(schema: Any) -> dict[str, Any]:
    """Arguments that satisfy the required properties of a JSON ``schema`` object."""
    if not isinstance(schema, dict):
        return {}
    properties = schema.get("properties") or {}
    out: dict[str, Any] = {}
    for name in schema.get("required") or []:
        spec = properties.get(name) if isinstance(properties, dict) else None
        spec = spec if isinstance(spec, dict) else {}
        if isinstance(spec.get("enum"), list) and spec["enum"]:
            out[name] = spec["enum"][0]
        elif spec.get("type") == "object":
            out[name] = sample_arguments(spec)
        else:
            out[name] = _SAMPLES.get(str(spec.get("type")), "mock")
    return out


def _forced_function(body: dict[str, Any]) -> dict[str, Any] | None:
    tools = [t.get("function") for t in body.get("tools") or [] if isinstance(t, dict)]
    functions = [f for f in tools if isinstance(f, dict) and isinstance(f.get("name"), str)]
    choice = body.get("tool_choice")
    if not functions or choice in (None, "auto", "none"):
        return None
    if isinstance(choice, dict):
        name = (choice.get("function") or {}).get("name")
        return next((f for f in functions if f["name"] == name), None)
    return functions[0] if choice == "required" else None


def mock_tool_calls(body: dict[str, Any], call_id: str) -> list[dict[str, Any]] | None:
    """The tool calls the mock answers ``body`` with, or None for a text reply."""
    messages = body.get("messages") or []
    if messages and isinstance(messages[-1], dict) and messages[-1].get("role") == "tool":
        return None
    function = _forced_function(body)
    if function is None:
        return None
    arguments = orjson.dumps(sample_arguments(function.get("parameters"))).decode()
    return [{"id": call_id, "type": "function",
             "function": {"name": function["name"], "arguments": arguments}}]
