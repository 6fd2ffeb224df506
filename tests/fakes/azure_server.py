"""A fake Azure OpenAI resource: a real HTTP server (aiohttp) speaking Azure's wire format.

``POST /openai/deployments/{deployment}/chat/completions?api-version=YYYY-MM-DD[-preview]`` and
``.../embeddings`` answer OpenAI-format bodies and SSE streams with Azure's additions
(``prompt_filter_results``, per-choice ``content_filter_results``, and a stream that opens with a
choice-less annotation chunk). It checks what Azure checks: the ``api-key`` header (a bearer
token is not a key), a present and well-formed ``api-version`` (absent → 404
``Resource not found``), and ``stream_options`` only from ``2024-09-01`` on. Errors use Azure's
envelopes (``{"error": {"code": "429", "message": ...}}`` with ``retry-after``).

The reply is chosen by the ``x-fake-scenario`` header, else by a scenario name inside the
deployment name (``gpt4o-fake-tool-use``), else ``text``:

==================  =====================================================================
text                echoes the last user text; a tool call only when ``tool_choice`` forces
tool_use            a call of the first tool, unless the last message is a tool result;
                    ``parallel_tool_use`` calls two at once
cached              text, with ``cached_tokens`` in the usage
content_filter      400 ``content_filter`` (the prompt tripped Azure's policy)
filtered_output     200 with ``finish_reason: content_filter``
rate_limit          429 with ``retry-after: 6``
prompt_too_long     400 ``context_length_exceeded``
auth_error          401 (as for a wrong key)
not_found           404 ``DeploymentNotFound``
server_error        500 ``InternalServerError``
unavailable         503 ``ServiceUnavailable``
midstream_error     a stream that sends some text, then ``data: {"error": ...}``
truncated           a stream whose connection is cut after some text (no ``[DONE]``)
stall               a stream (or reply) that goes silent for ``x-fake-stall-s`` seconds (≤ 300)
==================  =====================================================================

``x-fake-delay-ms`` spaces stream events. Usage is a deterministic function of the request,
identical streamed or not. ``GET /fake/requests`` returns the last requests received.

Run it: ``python -m tests.fakes.azure_server --port 8767`` (``--port 0`` picks a free port; the
first line printed is ``READY http://127.0.0.1:<port>``, the provider's ``base_url``). From tests
use ``run_azure_server()`` (a subprocess) or ``start_azure_server()`` (in the running loop).
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import re
import time
from collections import deque
from collections.abc import Iterator
from typing import Any

import orjson
from aiohttp import web

from tests.fakes.serving import fake_main, run_fake_subprocess, start_fake_app

__all__ = ["DEFAULT_API_KEY", "SCENARIOS", "UNDERLYING_MODEL", "create_app", "run_azure_server",
           "start_azure_server"]

DEFAULT_API_KEY = "fake-azure-key"
UNDERLYING_MODEL = "gpt-4o-2024-11-20"
"""The model Azure names in replies (a deployment's model, never the deployment's name)."""
SCENARIOS = (
    "parallel_tool_use", "tool_use", "cached", "content_filter", "filtered_output", "rate_limit",
    "prompt_too_long", "auth_error", "not_found", "server_error", "unavailable",
    "midstream_error", "truncated", "stall", "text",
)
_FILTER_OK = {name: {"filtered": False, "severity": "safe"}
              for name in ("hate", "self_harm", "sexual", "violence")}
_ERRORS: dict[str, tuple[int, dict[str, Any], dict[str, str]]] = {
    "missing_key": (401, {"code": "401", "message": "Access denied due to missing subscription "
                          "key. Make sure to include subscription key when making requests to "
                          "an API."}, {}),
    "auth_error": (401, {"code": "401", "message": "Access denied due to invalid subscription key "
                         "or wrong API endpoint. Make sure to provide a valid key for an active "
                         "subscription and use a correct regional API endpoint for your "
                         "resource."}, {}),
    "no_version": (404, {"code": "404", "message": "Resource not found"}, {}),
    "bad_version": (400, {"code": "BadRequest", "message": "API version not supported"}, {}),
    "old_version": (400, {"message": "Unrecognized request argument supplied: stream_options",
                          "type": "invalid_request_error", "param": None, "code": None}, {}),
    "content_filter": (400, {
        "message": "The response was filtered due to the prompt triggering Azure OpenAI's "
        "content management policy. Please modify your prompt and retry.",
        "type": None, "param": "prompt", "code": "content_filter", "status": 400,
        "innererror": {"code": "ResponsibleAIPolicyViolation", "content_filter_result": {
            **_FILTER_OK, "violence": {"filtered": True, "severity": "high"}}}}, {}),
    "rate_limit": (429, {"code": "429", "message": "Requests to the ChatCompletions_Create "
                         "Operation under Azure OpenAI API version 2024-10-21 have exceeded token "
                         "rate limit of your current OpenAI S0 pricing tier. Please retry after 6 "
                         "seconds."}, {"retry-after": "6", "retry-after-ms": "6000"}),
    "prompt_too_long": (400, {"message": "This model's maximum context length is 128000 tokens. "
                              "However, your messages resulted in 130000 tokens. Please reduce "
                              "the length of the messages.", "type": "invalid_request_error",
                              "param": "messages", "code": "context_length_exceeded"}, {}),
    "not_found": (404, {"code": "DeploymentNotFound", "message": "The API deployment for this "
                        "resource does not exist. If you created the deployment within the last "
                        "5 minutes, please wait a moment and try again."}, {}),
    "server_error": (500, {"code": "InternalServerError", "message": "The server had an error "
                           "while processing your request. Sorry about that!"}, {}),
    "unavailable": (503, {"code": "ServiceUnavailable", "message": "The service is temporarily "
                          "unable to process your request. Please try again later."},
                    {"retry-after": "3"}),
}
_VERSION = re.compile(r"^\d{4}-\d{2}-\d{2}(-preview)?$")
_WORD = re.compile(r"\w+|[^\w\s]")
_REQUESTS_KEY = web.AppKey("requests", deque)
_API_KEY = web.AppKey("api_key", str)


def create_app(*, api_key: str = DEFAULT_API_KEY) -> web.Application:
    """The fake's aiohttp app; ``api_key`` is the only ``api-key`` accepted."""
    app = web.Application(client_max_size=64 * 1024 * 1024)
    app[_REQUESTS_KEY] = deque(maxlen=50)
    app[_API_KEY] = api_key
    app.router.add_post("/openai/deployments/{deployment}/chat/completions", _chat)
    app.router.add_post("/openai/deployments/{deployment}/embeddings", _embeddings)
    app.router.add_get("/fake/requests", _recorded)
    return app


def _error_response(name: str) -> web.Response:
    status, error, headers = _ERRORS[name]
    return web.Response(status=status, body=orjson.dumps({"error": error}), headers=headers,
                        content_type="application/json")


async def _recorded(request: web.Request) -> web.Response:
    return web.Response(body=orjson.dumps(list(request.app[_REQUESTS_KEY])),
                        content_type="application/json")


async def _admit(request: web.Request) -> dict[str, Any] | web.Response:
    """The JSON body of an acceptable request, or Azure's refusal."""
    raw = await request.read()
    request.app[_REQUESTS_KEY].append({
        "path": request.path, "query": dict(request.query),
        "headers": {str(k).lower(): v for k, v in request.headers.items()},
        "body": raw.decode("utf-8", "replace")})
    version = request.query.get("api-version")
    if version is None:
        return _error_response("no_version")
    if not _VERSION.match(version):
        return _error_response("bad_version")
    key = request.headers.get("api-key")
    if not key:
        return _error_response("missing_key")
    if key != request.app[_API_KEY]:
        return _error_response("auth_error")
    body = orjson.loads(raw)
    if body.get("stream_options") is not None and version < "2024-09-01":
        return _error_response("old_version")
    return dict(body)


async def _chat(request: web.Request) -> web.StreamResponse:
    body = await _admit(request)
    if isinstance(body, web.Response):
        return body
    scenario = request.headers.get("x-fake-scenario") or next(
        (s for s in SCENARIOS if s.replace("_", "-") in request.match_info["deployment"]), "text")
    if scenario in _ERRORS:
        return _error_response(scenario)
    reply = _Reply(body, scenario)
    if body.get("stream"):
        return await _stream(request, reply)
    if scenario == "stall":
        await _stall(request)
    return web.Response(body=orjson.dumps(reply.whole()), content_type="application/json")


async def _embeddings(request: web.Request) -> web.StreamResponse:
    body = await _admit(request)
    if isinstance(body, web.Response):
        return body
    inputs = body.get("input")
    inputs = inputs if isinstance(inputs, list) else [inputs]
    data = [{"object": "embedding", "index": index, "embedding": [
        round(byte / 255.0, 6) for byte in hashlib.sha256(str(text).encode()).digest()[:8]]}
        for index, text in enumerate(inputs)]
    tokens = sum(len(_WORD.findall(str(text))) for text in inputs)
    return web.json_response({"object": "list", "data": data, "model": "text-embedding-3-small",
                              "usage": {"prompt_tokens": tokens, "total_tokens": tokens}})


async def _stream(request: web.Request, reply: _Reply) -> web.StreamResponse:
    response = web.StreamResponse(headers={"Content-Type": "text/event-stream; charset=utf-8"})
    await response.prepare(request)
    delay_s = int(request.headers.get("x-fake-delay-ms", "0")) / 1000
    chunks = list(reply.chunks())
    cut = len(chunks) - 2  # the chunk before the finish chunk
    for index, chunk in enumerate(chunks):
        if index == cut and reply.scenario == "truncated" and request.transport is not None:
            request.transport.close()  # the chunked body never ends: a broken stream
            return response
        if index == cut and reply.scenario == "midstream_error":
            await response.write(b'data: {"error": {"code": "InternalServerError", "message": '
                                 b'"The model crashed mid-stream."}}\n\n')
            break
        if index == cut and reply.scenario == "stall":
            await _stall(request)
        elif delay_s and index:
            await asyncio.sleep(delay_s)
        await response.write(b"data: " + orjson.dumps(chunk) + b"\n\n")
    else:
        await response.write(b"data: [DONE]\n\n")
    await response.write_eof()
    return response


async def _stall(request: web.Request) -> None:
    """Silence until the client gives up, at most ``x-fake-stall-s`` seconds (≤ 300)."""
    deadline = time.monotonic() + min(float(request.headers.get("x-fake-stall-s", "30")), 300.0)
    while time.monotonic() < deadline:
        if request.transport is None or request.transport.is_closing():
            return
        await asyncio.sleep(0.05)


def _last_user_text(messages: list[dict[str, Any]]) -> str:
    last = messages[-1] if messages else {}
    if last.get("role") == "tool":
        return str(last.get("content"))
    content = next((m.get("content") for m in reversed(messages) if m.get("role") == "user"), "")
    if isinstance(content, list):
        content = " ".join(str(p.get("text", "")) for p in content if p.get("type") == "text")
    return str(content or "nothing")[:200]


def _tokens(text: str) -> int:
    return max(1, len(_WORD.findall(text)))


class _Reply:
    """The answer to one request, whole or as chunks; deterministic for a given body."""

    def __init__(self, body: dict[str, Any], scenario: str) -> None:
        self.body = body
        self.scenario = scenario
        self.id = "chatcmpl-" + hashlib.sha256(orjson.dumps(body)).hexdigest()[:29]
        self.calls = self._calls()
        self.text = None if self.calls else f"Echo: {_last_user_text(body['messages'])}"
        self.finish = "tool_calls" if self.calls else "stop"
        if scenario == "filtered_output":
            self.finish = "content_filter"

    def _calls(self) -> list[dict[str, Any]]:
        tools = self.body.get("tools") or []
        choice = self.body.get("tool_choice")
        forced = choice == "required" or isinstance(choice, dict)
        wants = self.scenario.endswith("tool_use") or forced
        answered = (self.body["messages"] or [{}])[-1].get("role") == "tool"
        if not tools or not wants or answered or choice == "none":
            return []
        count = 2 if self.scenario == "parallel_tool_use" else 1
        return [{"id": f"call_{self.id[-12:]}{index}", "type": "function", "function": {
            "name": tools[index % len(tools)]["function"]["name"],
            "arguments": orjson.dumps({"city": "Paris"}).decode()}} for index in range(count)]

    def usage(self) -> dict[str, Any]:
        prompt = _tokens(orjson.dumps([self.body["messages"], self.body.get("tools")]).decode())
        completion = _tokens(self.text or orjson.dumps(self.calls).decode())
        cached = prompt // 2 if self.scenario == "cached" else 0
        return {"completion_tokens": completion, "prompt_tokens": prompt,
                "total_tokens": prompt + completion,
                "completion_tokens_details": {"accepted_prediction_tokens": 0, "audio_tokens": 0,
                                              "reasoning_tokens": 0,
                                              "rejected_prediction_tokens": 0},
                "prompt_tokens_details": {"audio_tokens": 0, "cached_tokens": cached}}

    def _envelope(self, kind: str, choices: list[dict[str, Any]]) -> dict[str, Any]:
        return {"choices": choices, "created": 1732000000, "id": self.id,
                "model": UNDERLYING_MODEL, "object": kind, "system_fingerprint": "fp_b705f0c291"}

    def whole(self) -> dict[str, Any]:
        message: dict[str, Any] = {"content": self.text, "refusal": None, "role": "assistant"}
        if self.calls:
            message["tool_calls"] = self.calls
        choice = {"content_filter_results": _FILTER_OK, "finish_reason": self.finish,
                  "index": 0, "logprobs": None, "message": message}
        completion = self._envelope("chat.completion", [choice])
        completion["prompt_filter_results"] = [
            {"prompt_index": 0, "content_filter_results": _FILTER_OK}]
        completion["usage"] = self.usage()
        return completion

    def chunks(self) -> Iterator[dict[str, Any]]:
        # NOTE: Azure opens every stream with this choice-less chunk whose id, model and
        # object are empty strings: the prompt's content-filter verdict.
        yield {"choices": [], "created": 0, "id": "", "model": "", "object": "",
               "prompt_filter_results": [{"prompt_index": 0,
                                          "content_filter_results": _FILTER_OK}]}
        yield self._chunk({"content": "", "refusal": None, "role": "assistant"})
        for delta in self._deltas():
            yield self._chunk(delta)
        yield self._chunk({}, self.finish)
        if (self.body.get("stream_options") or {}).get("include_usage"):
            yield {**self._envelope("chat.completion.chunk", []), "usage": self.usage()}

    def _deltas(self) -> Iterator[dict[str, Any]]:
        for index, call in enumerate(self.calls):
            function = call["function"]
            yield {"tool_calls": [{"index": index, "id": call["id"], "type": "function",
                                   "function": {"name": function["name"], "arguments": ""}}]}
            arguments = function["arguments"]
            for start in range(0, len(arguments), 8):
                yield {"tool_calls": [{"index": index, "function": {
                    "arguments": arguments[start:start + 8]}}]}
        words = (self.text or "").split(" ") if self.text else []
        for start in range(0, len(words), 2):
            piece = " ".join(words[start:start + 2])
            yield {"content": piece + (" " if start + 2 < len(words) else "")}

    def _chunk(self, delta: dict[str, Any], finish: str | None = None) -> dict[str, Any]:
        choice = {"content_filter_results": {} if finish else _FILTER_OK, "delta": delta,
                  "finish_reason": finish, "index": 0, "logprobs": None}
        return self._envelope("chat.completion.chunk", [choice])


# --- running it ----------------------------------------------------------------------------


async def start_azure_server(
    *, host: str = "127.0.0.1", port: int = 0, api_key: str = DEFAULT_API_KEY
) -> tuple[web.AppRunner, str]:
    """Serve the fake in the running event loop; returns the runner and the provider base URL."""
    return await start_fake_app(create_app(api_key=api_key), host=host, port=port, path="")


def run_azure_server(*, api_key: str = DEFAULT_API_KEY, timeout_s: float = 30.0
                     ) -> contextlib.AbstractContextManager[str]:
    """Run the fake as a subprocess on a free port; yields its base URL, stops it on exit."""
    return run_fake_subprocess("tests.fakes.azure_server", api_key=api_key, timeout_s=timeout_s)


def main(argv: list[str] | None = None) -> None:
    fake_main(argv, description="A fake Azure OpenAI server.", default_port=8767,
              default_api_key=DEFAULT_API_KEY, create_app=create_app, path="")


if __name__ == "__main__":
    main()
