"""A fake Anthropic Messages API: a real HTTP server (aiohttp) speaking Anthropic's wire format.

``POST /v1/messages`` checks what the real API checks first (the key, ``anthropic-version``,
``model``, ``max_tokens``, roles, non-empty turns, tool results answering the previous turn's
tool uses) and answers like Anthropic, streamed (named SSE events, ``ping`` included) or not.

The reply is chosen by the ``x-fake-scenario`` header, else by a scenario name inside the model
name (``claude-fake-tool-use``), else ``text``:

=================  ========================================================================
text               a text reply echoing the last user text (honours max_tokens, stop_sequences)
tool_use           text, then a ``tool_use`` block for the first tool offered
thinking           a thinking block (with signature), then text
cached             text, with cache read / cache creation tokens in the usage
rate_limit         429 ``rate_limit_error`` with ``retry-after``
overloaded         529 ``overloaded_error``
prompt_too_long    400 ``invalid_request_error`` "prompt is too long"
auth_error         401 ``authentication_error``
server_error       500 ``api_error``
midstream_error    a stream that sends some text, then an ``error`` event (overloaded)
truncated          a stream that stops after some text, without message_delta/message_stop
stall              a stream (or reply) that goes silent for ``x-fake-stall-s`` seconds (≤ 300)
=================  ========================================================================

``x-fake-delay-ms`` spaces stream events (slow replies). Usage is a deterministic function of the
request, identical for the streamed and the non-streamed reply, so the two cost the same.
``GET /fake/requests`` returns the last requests received (headers and body), for assertions.

Run it: ``python -m tests.fakes.anthropic_server --port 8765`` (``--port 0`` picks a free port;
the first line printed is ``READY http://127.0.0.1:<port>``). From tests use
``run_anthropic_server()`` (a subprocess) or ``start_anthropic_server()`` (in the running loop).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections import deque
from collections.abc import Iterator
from typing import Any

from aiohttp import web

from tests.fakes.serving import fake_main, run_fake_subprocess, start_fake_app

__all__ = ["SCENARIOS", "create_app", "run_anthropic_server", "start_anthropic_server"]

SCENARIOS = (
    "text", "tool_use", "thinking", "cached", "rate_limit", "overloaded", "prompt_too_long",
    "auth_error", "server_error", "midstream_error", "truncated", "stall",
)
_ERRORS = {
    "rate_limit": (429, "rate_limit_error",
                   "Number of request tokens has exceeded your per-minute rate limit."),
    "overloaded": (529, "overloaded_error", "Overloaded"),
    "prompt_too_long": (400, "invalid_request_error",
                        "prompt is too long: 215000 tokens > 200000 maximum"),
    "auth_error": (401, "authentication_error", "invalid x-api-key"),
    "server_error": (500, "api_error", "Internal server error"),
}
_REQUESTS_KEY = web.AppKey("requests", deque)
_API_KEY = web.AppKey("api_key", str)
_TOOL_INPUT = {"city": "Paris", "unit": "celsius"}
_SIGNATURE = "EqQBCkYIARgCIkDfakeSignature"


class _Invalid(Exception):
    def __init__(self, status: int, kind: str, message: str) -> None:
        super().__init__(message)
        self.status, self.kind, self.message = status, kind, message


def create_app(*, api_key: str = "") -> web.Application:
    """The fake's aiohttp app; ``api_key`` (when set) is the only ``x-api-key`` accepted."""
    app = web.Application(client_max_size=64 * 1024 * 1024)
    app[_REQUESTS_KEY] = deque(maxlen=50)
    app[_API_KEY] = api_key
    app.router.add_post("/v1/messages", _messages)
    app.router.add_get("/fake/requests", _recorded)
    return app


async def _recorded(request: web.Request) -> web.Response:
    return web.json_response(list(request.app[_REQUESTS_KEY]))


async def _messages(request: web.Request) -> web.StreamResponse:
    raw = await request.read()
    request.app[_REQUESTS_KEY].append({"headers": dict(request.headers),
                                       "body": raw.decode("utf-8", "replace")})
    try:
        body = _validate(request, raw)
    except _Invalid as exc:
        return _error_response(exc.status, exc.kind, exc.message)
    scenario = _scenario(request, body["model"])
    if scenario in _ERRORS:
        status, kind, message = _ERRORS[scenario]
        return _error_response(status, kind, message)
    if scenario == "midstream_error" and not body.get("stream"):
        return _error_response(500, "api_error", "Internal server error")
    message = _reply(body, scenario)
    if body.get("stream"):
        return await _stream(request, message, scenario)
    if scenario == "stall":
        await asyncio.sleep(_stall_s(request))
    return web.json_response(message, headers={"request-id": "req_fake_0001"})


def _error_response(status: int, kind: str, message: str) -> web.Response:
    headers = {"request-id": "req_fake_0001"}
    if status == 429:
        headers["retry-after"] = "7"
    body = {"type": "error", "error": {"type": kind, "message": message},
            "request_id": "req_fake_0001"}
    return web.json_response(body, status=status, headers=headers)


def _scenario(request: web.Request, model: str) -> str:
    chosen = request.headers.get("x-fake-scenario")
    if chosen:
        return chosen
    for name in SCENARIOS:
        if name.replace("_", "-") in model:
            return name
    return "text"


def _validate(request: web.Request, raw: bytes) -> dict[str, Any]:
    # NOTE: the API takes the key as x-api-key or, as anthropic SDK 2.x sends it, a bearer token.
    bearer = request.headers.get("authorization", "").removeprefix("Bearer ").strip()
    key = request.headers.get("x-api-key") or bearer
    if not key:
        raise _Invalid(401, "authentication_error", "x-api-key header is required")
    if request.app[_API_KEY] and key != request.app[_API_KEY]:
        raise _Invalid(401, "authentication_error", "invalid x-api-key")
    if not request.headers.get("anthropic-version"):
        raise _Invalid(400, "invalid_request_error", "anthropic-version: header is required")
    try:
        body = json.loads(raw)
    except ValueError:
        raise _Invalid(400, "invalid_request_error", "Request body is not valid JSON") from None
    if not isinstance(body, dict):
        raise _Invalid(400, "invalid_request_error", "Request body must be an object")
    for field, kind in (("model", str), ("max_tokens", int), ("messages", list)):
        if not isinstance(body.get(field), kind):
            raise _Invalid(400, "invalid_request_error", f"{field}: Field required")
    _validate_messages(body["messages"])
    return body


def _validate_messages(messages: list[Any]) -> None:
    previous_tool_uses: set[str] = set()
    for index, message in enumerate(messages):
        role = message.get("role") if isinstance(message, dict) else None
        if role not in ("user", "assistant"):
            raise _Invalid(400, "invalid_request_error",
                           f"messages.{index}.role: Input should be 'user' or 'assistant'")
        content = message.get("content")
        if not content and index != len(messages) - 1:
            raise _Invalid(400, "invalid_request_error", f"messages.{index}: all messages must "
                           "have non-empty content except for the optional final assistant message")
        blocks = [b for b in content if isinstance(b, dict)] if isinstance(content, list) else []
        for block in blocks:
            if block.get("type") == "tool_result" and block.get("tool_use_id") not in \
                    previous_tool_uses:
                raise _Invalid(400, "invalid_request_error", f"messages.{index}.content: "
                               "unexpected `tool_use_id` found in `tool_result` blocks")
        previous_tool_uses = {b.get("id") for b in blocks if b.get("type") == "tool_use"}


def _reply(body: dict[str, Any], scenario: str) -> dict[str, Any]:
    """The complete message; the stream is cut from the same message, so usage matches."""
    text, stop_reason, stop_sequence = _answer_text(body)
    content: list[dict[str, Any]] = []
    if scenario == "thinking":
        content.append({"type": "thinking", "thinking": "The user wants an answer. Think first.",
                        "signature": _SIGNATURE})
    content.append({"type": "text", "text": text})
    if scenario == "tool_use":
        tools = body.get("tools") or [{"name": "get_weather"}]
        content.append({"type": "tool_use", "id": "toolu_01FakeToolUse0001",
                        "name": tools[0]["name"], "input": _TOOL_INPUT})
        stop_reason, stop_sequence = "tool_use", None
    usage = {"input_tokens": _input_tokens(body), "cache_creation_input_tokens": 0,
             "cache_read_input_tokens": 0, "output_tokens": _output_tokens(content)}
    if scenario == "cached":
        usage.update(cache_creation_input_tokens=11, cache_read_input_tokens=1000)
    if scenario == "thinking":
        usage["output_tokens_details"] = {"thinking_tokens": _output_tokens(content[:1])}
    return {"id": "msg_01FakeAnthropicReply", "type": "message", "role": "assistant",
            "model": body["model"], "content": content, "stop_reason": stop_reason,
            "stop_sequence": stop_sequence, "usage": usage}


def _answer_text(body: dict[str, Any]) -> tuple[str, str, str | None]:
    words = f"Hello from the fake Anthropic server. You said: {_last_user_text(body)}".split(" ")
    stop_reason, stop_sequence = "end_turn", None
    if len(words) > body["max_tokens"]:
        words, stop_reason = words[: body["max_tokens"]], "max_tokens"
    text = " ".join(words)
    for sequence in body.get("stop_sequences") or []:
        if sequence in text:
            text, stop_reason, stop_sequence = text.split(sequence)[0], "stop_sequence", sequence
    return text, stop_reason, stop_sequence


def _last_user_text(body: dict[str, Any]) -> str:
    for message in reversed(body["messages"]):
        content = message.get("content")
        if message.get("role") != "user":
            continue
        if isinstance(content, str):
            return content[:200]
        texts = [b.get("text", "") for b in content if b.get("type") == "text"]
        if texts:
            return " ".join(texts)[:200]
    return "nothing"


def _input_tokens(body: dict[str, Any]) -> int:
    prompt = json.dumps([body.get("system"), body["messages"], body.get("tools")])
    return max(1, len(prompt) // 4)


def _output_tokens(content: list[dict[str, Any]]) -> int:
    size = sum(len(json.dumps(block)) for block in content)
    return max(1, size // 4)


async def _stream(request: web.Request, message: dict[str, Any],
                  scenario: str) -> web.StreamResponse:
    response = web.StreamResponse(headers={
        "content-type": "text/event-stream; charset=utf-8", "cache-control": "no-cache",
        "request-id": "req_fake_0001"})
    await response.prepare(request)
    delay_s = int(request.headers.get("x-fake-delay-ms", "0")) / 1000
    for index, (event, payload) in enumerate(_events(message, scenario)):
        if scenario == "stall" and index == 4:
            await asyncio.sleep(_stall_s(request))
        elif delay_s and index:
            await asyncio.sleep(delay_s)
        await response.write(f"event: {event}\ndata: {json.dumps(payload)}\n\n".encode())
    await response.write_eof()
    return response


def _stall_s(request: web.Request) -> float:
    return min(float(request.headers.get("x-fake-stall-s", "30")), 300.0)


def _events(message: dict[str, Any], scenario: str) -> Iterator[tuple[str, dict[str, Any]]]:
    """Anthropic's event sequence for ``message``, cut short by the failure scenarios."""
    start = {**message, "content": [], "stop_reason": None, "stop_sequence": None,
             "usage": {**message["usage"], "output_tokens": 1}}
    yield "message_start", {"type": "message_start", "message": start}
    for index, block in enumerate(message["content"]):
        yield from _block_events(index, block, with_ping=index == 0)
        if scenario == "midstream_error":
            yield "error", {"type": "error",
                            "error": {"type": "overloaded_error", "message": "Overloaded"}}
            return
        if scenario == "truncated":
            return
    yield "message_delta", {"type": "message_delta",
                            "delta": {"stop_reason": message["stop_reason"],
                                      "stop_sequence": message["stop_sequence"]},
                            "usage": _final_usage(message["usage"])}
    yield "message_stop", {"type": "message_stop"}


def _final_usage(usage: dict[str, Any]) -> dict[str, Any]:
    """``message_delta`` usage: the cumulative output counts (prompt counts came at the start)."""
    return {k: v for k, v in usage.items() if k.startswith("output_tokens")}


def _block_events(
    index: int, block: dict[str, Any], *, with_ping: bool
) -> Iterator[tuple[str, dict[str, Any]]]:
    kind = block["type"]
    empty = {"text": {"type": "text", "text": ""},
             "thinking": {"type": "thinking", "thinking": "", "signature": ""},
             "tool_use": {**block, "input": {}}}[kind]
    yield "content_block_start", {"type": "content_block_start", "index": index,
                                  "content_block": empty}
    if with_ping:  # the real API pings right after the first block starts
        yield "ping", {"type": "ping"}
    for delta in _deltas(block):
        yield "content_block_delta", {"type": "content_block_delta", "index": index,
                                      "delta": delta}
    yield "content_block_stop", {"type": "content_block_stop", "index": index}


def _deltas(block: dict[str, Any]) -> Iterator[dict[str, Any]]:
    if block["type"] == "text":
        for piece in _pieces(block["text"]):
            yield {"type": "text_delta", "text": piece}
    elif block["type"] == "thinking":
        for piece in _pieces(block["thinking"]):
            yield {"type": "thinking_delta", "thinking": piece}
        yield {"type": "signature_delta", "signature": block["signature"]}
    else:
        arguments = json.dumps(block["input"])
        yield {"type": "input_json_delta", "partial_json": ""}
        for start in range(0, len(arguments), 9):
            yield {"type": "input_json_delta", "partial_json": arguments[start:start + 9]}


def _pieces(text: str) -> list[str]:
    """Text split after every few words, as the real API's deltas are."""
    words = text.split(" ")
    return [" ".join(words[i:i + 3]) + (" " if i + 3 < len(words) else "")
            for i in range(0, len(words), 3)]


async def start_anthropic_server(
    *, host: str = "127.0.0.1", port: int = 0, api_key: str = ""
) -> tuple[web.AppRunner, str]:
    """Serve the fake in the running event loop; returns the runner and the provider base URL."""
    return await start_fake_app(create_app(api_key=api_key), host=host, port=port, path="")


def run_anthropic_server(*, api_key: str = "", timeout_s: float = 30.0
                     ) -> contextlib.AbstractContextManager[str]:
    """Run the fake as a subprocess on a free port; yields its base URL, stops it on exit."""
    return run_fake_subprocess("tests.fakes.anthropic_server", api_key=api_key, timeout_s=timeout_s)


def main(argv: list[str] | None = None) -> None:
    fake_main(argv, description=__doc__.split("\n")[0] if __doc__ else "", default_port=8765,
              default_api_key="", create_app=create_app, path="")


if __name__ == "__main__":
    main()
