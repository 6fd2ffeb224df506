"""A fake OpenAI upstream: a real HTTP server speaking OpenAI's wire format, streaming included.

Endpoints: ``POST /v1/chat/completions`` (JSON, or SSE with a usage chunk when
``stream_options.include_usage`` and ``data: [DONE]``), ``POST /v1/completions`` (legacy, the
same reply as ``text_completion``), ``GET /v1/models``, ``POST /v1/embeddings``; ``GET
/_requests`` returns what it received (and stream outcomes), ``DELETE /_requests`` forgets.
A chat request whose ``tool_choice`` forces a call (``required`` or a named function) is
answered with a call of that tool (arguments fill the schema's required properties), unless its
last message is already a tool result.

Behaviour is chosen per request by the ``x-fake-mode`` header, else by the model name:

============== ===============================================================================
``fail-500``   500 with an OpenAI error body        ``fail-503`` 503 with ``Retry-After: 3``
``fail-429``   429 with ``Retry-After: 7``           ``fail-401`` 401 (message names the key)
``fail-400``   400 invalid_request_error             ``fail-context`` 400 context_length_exceeded
``slow``       waits ``x-fake-delay`` s (default 3) before the response headers
``stall``      streams one content chunk, then goes silent for ``x-fake-delay`` s (default 10)
``break-midstream`` streams two content chunks, then drops the connection (no ``[DONE]``)
``no-usage``   never reports usage                   ``crlf`` frames end with ``\\r\\n\\r\\n``
``split``      each frame is written in 7-byte pieces (exercises re-assembly)
``error-midstream`` streams one chunk, then ``data: {"error": ...}``
============== ===============================================================================

``x-fake-chunks`` (content chunks, default 4) and ``x-fake-interval`` (seconds between chunks,
default 0) shape streams; a stream's outcome is recorded as ``{"event": "stream_done" |
"client_gone" | "stream_broken", "tag": <x-fake-tag header>}``. Each request record has the
client's ``peer`` address (to observe connection reuse).

Run it with ``python -m tests.fakes.openai_server --port N``.
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import time
from typing import Any

import orjson
from aiohttp import web

__all__ = ["REPLY_PREFIX", "build_app", "fake_usage", "main", "reply_text"]

REPLY_PREFIX = "Fake upstream says hello to:"
_RECORDS = web.AppKey("records", list)


def reply_text(body: dict[str, Any]) -> str:
    """The deterministic reply: the prefix plus the last user message's text."""
    messages = body.get("messages") or []
    last = next((m for m in reversed(messages) if m.get("role") == "user"), {})
    content = last.get("content")
    if isinstance(content, list):
        content = " ".join(p.get("text", "") for p in content if isinstance(p, dict))
    return f"{REPLY_PREFIX} {content or ''}".strip()


def fake_usage(body: dict[str, Any], reply: str) -> dict[str, Any]:
    """The usage the fake reports: simple, deterministic numbers tests can recompute."""
    prompt = 10 + len(body.get("messages") or [])
    completion = len(reply.split())
    return {
        "prompt_tokens": prompt,
        "completion_tokens": completion,
        "total_tokens": prompt + completion,
        "prompt_tokens_details": {"cached_tokens": 2, "audio_tokens": 0},
        "completion_tokens_details": {"reasoning_tokens": 1, "audio_tokens": 0},
    }


def _error(status: int, message: str, etype: str, code: str | None,
           headers: dict[str, str] | None = None) -> web.Response:
    body = {"error": {"message": message, "type": etype, "param": None, "code": code}}
    return web.Response(status=status, body=orjson.dumps(body), headers=headers,
                        content_type="application/json")


def _failure(mode: str, request: web.Request) -> web.Response | None:
    key = request.headers.get("Authorization", "").removeprefix("Bearer ")
    match mode:
        case "fail-500":
            return _error(500, "The server had an error processing your request.", "server_error",
                          None)
        case "fail-503":
            return _error(503, "The engine is currently overloaded.", "server_error", None,
                          {"Retry-After": "3"})
        case "fail-429":
            return _error(429, "Rate limit reached for requests.", "requests",
                          "rate_limit_exceeded", {"Retry-After": "7"})
        case "fail-401":
            return _error(401, f"Incorrect API key provided: {key}.", "invalid_request_error",
                          "invalid_api_key")
        case "fail-400":
            return _error(400, "'messages' must contain at least one message.",
                          "invalid_request_error", "invalid_value")
        case "fail-context":
            return _error(400, "This model's maximum context length is 128000 tokens.",
                          "invalid_request_error", "context_length_exceeded")
    return None


def _tool_calls(body: dict[str, Any]) -> list[dict[str, Any]]:
    """The forced tool call for ``body`` (see the module docstring), or none."""
    tools = [t.get("function") or {} for t in body.get("tools") or []]
    choice = body.get("tool_choice")
    messages = body.get("messages") or []
    if not tools or choice in (None, "auto", "none") or (messages and messages[-1].get("role")
                                                         == "tool"):
        return []
    name = (choice.get("function") or {}).get("name") if isinstance(choice, dict) else None
    tool = next((t for t in tools if t.get("name") == name), tools[0])
    schema = tool.get("parameters") or {}
    arguments = {key: "Paris" for key in schema.get("required") or []}
    return [{"id": "call_fake0001", "type": "function",
             "function": {"name": tool.get("name"), "arguments": orjson.dumps(arguments).decode()}}]


def _completion(body: dict[str, Any], mode: str) -> dict[str, Any]:
    reply = reply_text(body)
    calls = _tool_calls(body)
    message: dict[str, Any] = {"role": "assistant", "content": None if calls else reply,
                               "refusal": None}
    if calls:
        message["tool_calls"] = calls
    doc: dict[str, Any] = {
        "id": "chatcmpl-fake" + hashlib.sha1(orjson.dumps(body)).hexdigest()[:16],
        "object": "chat.completion", "created": int(time.time()), "model": body.get("model"),
        "choices": [{"index": 0, "message": message, "logprobs": None,
                     "finish_reason": "tool_calls" if calls else "stop"}],
        "system_fingerprint": "fp_fake",
    }
    if mode != "no-usage":
        doc["usage"] = fake_usage(body, reply)
    return doc


def _stream_frames(body: dict[str, Any], mode: str, chunks: int, sep: bytes) -> list[bytes]:
    reply = reply_text(body)
    wants_usage = (body.get("stream_options") or {}).get("include_usage") and mode != "no-usage"
    base = {"id": "chatcmpl-fake-stream", "object": "chat.completion.chunk",
            "created": int(time.time()), "model": body.get("model"),
            "system_fingerprint": "fp_fake"}
    if wants_usage:
        base["usage"] = None

    def frame(delta: dict[str, Any], finish: str | None = None) -> bytes:
        choice = {"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish}
        return b"data: " + orjson.dumps({**base, "choices": [choice]}) + sep

    size = len(reply)
    pieces = [reply[i * size // chunks:(i + 1) * size // chunks] for i in range(chunks)]
    frames = [frame({"role": "assistant", "content": ""})]
    calls = _tool_calls(body)
    if calls:
        opened = {**calls[0], "index": 0, "function": {**calls[0]["function"], "arguments": ""}}
        arguments = calls[0]["function"]["arguments"]
        frames.append(frame({"tool_calls": [opened]}))
        frames += [frame({"tool_calls": [{"index": 0, "function": {"arguments": part}}]})
                   for part in (arguments[:5], arguments[5:])]
    else:
        frames += [frame({"content": piece}) for piece in pieces]
    frames.append(frame({}, "tool_calls" if calls else "stop"))
    if wants_usage:
        usage_chunk = {**base, "choices": [], "usage": fake_usage(body, reply)}
        frames.append(b"data: " + orjson.dumps(usage_chunk) + sep)
    frames.append(b"data: [DONE]" + sep)
    return frames


_MIDSTREAM_ERROR = b'data: {"error": {"message": "The model crashed.", "type": "server_error"}}\n\n'


def _as_text_completion(frame: bytes) -> bytes:
    """A chat stream frame rewritten as a legacy ``text_completion`` chunk."""
    if not frame.startswith(b"data: {"):
        return frame
    payload, sep = frame[6:].rstrip(b"\r\n"), frame[len(frame.rstrip(b"\r\n")):]
    chunk = orjson.loads(payload)
    chunk["object"] = "text_completion"
    chunk["choices"] = [{"text": c["delta"].get("content") or "", "index": c["index"],
                         "logprobs": None, "finish_reason": c["finish_reason"]}
                        for c in chunk["choices"]]
    return b"data: " + orjson.dumps(chunk) + sep


async def _write_stream(request: web.Request, body: dict[str, Any], mode: str,
                        *, is_legacy: bool = False) -> web.StreamResponse:
    chunks = int(request.headers.get("x-fake-chunks", "4"))
    frames = _stream_frames(body, mode, chunks, b"\r\n\r\n" if mode == "crlf" else b"\n\n")
    if is_legacy:
        frames = [_as_text_completion(frame) for frame in frames[1:]]  # no role chunk
    if mode == "error-midstream":
        frames = [*frames[:2], _MIDSTREAM_ERROR]
    resp = web.StreamResponse(headers={"Content-Type": "text/event-stream"})
    await resp.prepare(request)
    records = request.app[_RECORDS]
    try:
        outcome = await _pump(request, resp, frames, mode)
    except (ConnectionResetError, ConnectionError):
        outcome = "client_gone"
    except asyncio.CancelledError:  # handler_cancellation: the client hung up
        records.append({"event": "client_gone", "tag": request.headers.get("x-fake-tag")})
        raise
    records.append({"event": outcome, "tag": request.headers.get("x-fake-tag")})
    if outcome == "stream_done":
        await resp.write_eof()
    return resp


async def _pump(request: web.Request, resp: web.StreamResponse, frames: list[bytes], mode: str
                ) -> str:
    interval = float(request.headers.get("x-fake-interval", "0"))
    delay = float(request.headers.get("x-fake-delay", "10"))
    for index, frame in enumerate(frames):
        if mode == "stall" and index == 2:
            await asyncio.sleep(delay)
        if mode == "break-midstream" and index == 3:
            assert request.transport is not None
            request.transport.close()
            return "stream_broken"
        await _write_frame(resp, frame, split=mode == "split")
        if interval and index:
            await asyncio.sleep(interval)
    return "stream_done"


async def _write_frame(resp: web.StreamResponse, frame: bytes, *, split: bool) -> None:
    if not split:
        await resp.write(frame)
        return
    for start in range(0, len(frame), 7):
        await resp.write(frame[start:start + 7])
        await asyncio.sleep(0)


def _peer(request: web.Request) -> str:
    peer = request.transport.get_extra_info("peername") if request.transport else None
    return f"{peer[0]}:{peer[1]}" if peer else ""


async def chat_completions(request: web.Request) -> web.StreamResponse:
    body = await request.json(loads=orjson.loads)
    request.app[_RECORDS].append({
        "method": request.method, "path": request.path,
        "headers": {str(k): v for k, v in request.headers.items()},
        "body": body, "peer": _peer(request),
    })
    mode = request.headers.get("x-fake-mode") or str(body.get("model", ""))
    failure = _failure(mode, request)
    if failure is not None:
        return failure
    if mode == "slow":
        await asyncio.sleep(float(request.headers.get("x-fake-delay", "3")))
    if body.get("stream"):
        return await _write_stream(request, body, mode)
    return web.Response(body=orjson.dumps(_completion(body, mode)), content_type="application/json")


async def completions(request: web.Request) -> web.StreamResponse:
    """Legacy ``/v1/completions``: the chat reply to the prompt, as a ``text_completion``."""
    body = await request.json(loads=orjson.loads)
    request.app[_RECORDS].append({"method": request.method, "path": request.path,
                                  "headers": {str(k): v for k, v in request.headers.items()},
                                  "body": body})
    mode = request.headers.get("x-fake-mode") or str(body.get("model", ""))
    failure = _failure(mode, request)
    if failure is not None:
        return failure
    prompt = body.get("prompt")
    chat = {**body, "messages": [{"role": "user", "content": prompt if isinstance(prompt, str)
                                  else " ".join(map(str, prompt or []))}]}
    if body.get("stream"):
        return await _write_stream(request, chat, mode, is_legacy=True)
    doc = _completion(chat, mode)
    doc.update(id="cmpl-fake" + doc["id"].removeprefix("chatcmpl-fake"), object="text_completion")
    doc["choices"] = [{"text": doc["choices"][0]["message"]["content"], "index": 0,
                       "logprobs": None, "finish_reason": "stop"}]
    return web.Response(body=orjson.dumps(doc), content_type="application/json")


async def models(request: web.Request) -> web.Response:
    names = ["gpt-4o", "gpt-4o-mini", "text-embedding-3-small"]
    data = [{"id": n, "object": "model", "created": 0, "owned_by": "fake"} for n in names]
    return web.Response(body=orjson.dumps({"object": "list", "data": data}),
                        content_type="application/json")


async def embeddings(request: web.Request) -> web.Response:
    body = await request.json(loads=orjson.loads)
    request.app[_RECORDS].append({"method": request.method, "path": request.path, "body": body})
    inputs = body.get("input")
    inputs = inputs if isinstance(inputs, list) else [inputs]
    data = []
    for index, text in enumerate(inputs):
        digest = hashlib.sha256(str(text).encode()).digest()
        data.append({"object": "embedding", "index": index,
                     "embedding": [round(b / 255.0, 6) for b in digest[:8]]})
    tokens = sum(len(str(text).split()) for text in inputs)
    doc = {"object": "list", "data": data, "model": body.get("model"),
           "usage": {"prompt_tokens": tokens, "total_tokens": tokens}}
    return web.Response(body=orjson.dumps(doc), content_type="application/json")


async def recorded(request: web.Request) -> web.Response:
    if request.method == "DELETE":
        request.app[_RECORDS].clear()
    return web.Response(body=orjson.dumps(request.app[_RECORDS]), content_type="application/json")


def build_app() -> web.Application:
    app = web.Application()
    app[_RECORDS] = []
    app.router.add_post("/v1/chat/completions", chat_completions)
    app.router.add_post("/v1/completions", completions)
    app.router.add_get("/v1/models", models)
    app.router.add_post("/v1/embeddings", embeddings)
    app.router.add_route("GET", "/_requests", recorded)
    app.router.add_route("DELETE", "/_requests", recorded)
    return app


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="Fake OpenAI upstream for tests")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8089)
    args = parser.parse_args(argv)
    web.run_app(build_app(), host=args.host, port=args.port, print=None, access_log=None,
                handler_cancellation=True, shutdown_timeout=0.5)


if __name__ == "__main__":
    main()
