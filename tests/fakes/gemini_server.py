"""A fake Gemini API: a real HTTP server (aiohttp) speaking the Generative Language API's format.

- ``POST /v1beta/models/{model}:generateContent`` answers one ``GenerateContentResponse``;
- ``POST /v1beta/models/{model}:streamGenerateContent?alt=sse`` answers ``data: {...}\\r\\n\\r\\n``
  events with no end marker (the last one carries ``finishReason`` and the final usage);
- ``POST /v1beta/models/{model}:batchEmbedContents`` answers deterministic embeddings (no usage).

It checks what Google checks: the key (``x-goog-api-key`` or ``?key=``; none is a 403
``PERMISSION_DENIED``, a wrong one a 400 ``INVALID_ARGUMENT`` with reason ``API_KEY_INVALID``),
unknown fields, roles, empty parts, function responses matching the previous turn's calls, and
Gemini 3's thought signatures on replayed function calls. Refusals use Google's error envelope.

The reply is chosen by the ``x-fake-scenario`` header, else by a scenario name inside the model
name (``gemini-fake-tool-use``), else ``text``:

==================  =====================================================================
text                echoes the last user text (``{"echo": ...}`` in JSON mode); calls a tool
                    only when ``toolConfig`` forces one (mode ``ANY``)
tool_use            a ``functionCall`` of the first allowed function, unless the last turn
                    answered a call (then text); ``parallel_tool_use`` calls two at once
thinking            a thought part, then text (``thoughtsTokenCount`` in the usage)
cached              text, with ``cachedContentTokenCount`` in the usage
max_tokens          text cut short: ``finishReason: MAX_TOKENS``
blocked             no candidates: ``promptFeedback.blockReason: SAFETY``
rate_limit          429 ``RESOURCE_EXHAUSTED`` with a ``RetryInfo`` delay of 7 s
unavailable         503 ``UNAVAILABLE`` (the model is overloaded)
prompt_too_long     400 ``INVALID_ARGUMENT``: the input token count exceeds the maximum
auth_error          403 ``PERMISSION_DENIED``
server_error        500 ``INTERNAL``
midstream_error     a stream that sends some text, then an ``error`` event
truncated           a stream whose connection is cut after some text (no final event)
stall               a stream (or reply) that goes silent for ``x-fake-stall-s`` seconds (≤ 300)
==================  =====================================================================

``x-fake-delay-ms`` spaces stream events. Usage is a deterministic function of the request,
identical streamed or not. ``GET /fake/requests`` returns the last requests received.

Run it: ``python -m tests.fakes.gemini_server --port 8766`` (``--port 0`` picks a free port; the
first line printed is ``READY http://127.0.0.1:<port>/v1beta``, the provider's ``base_url``). From
tests use ``run_gemini_server()`` (a subprocess) or ``start_gemini_server()`` (in the running loop).
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

__all__ = ["DEFAULT_API_KEY", "SCENARIOS", "create_app", "error_body", "run_gemini_server",
           "start_gemini_server"]

DEFAULT_API_KEY = "fake-gemini-key"
SCENARIOS = (
    "parallel_tool_use", "tool_use", "thinking", "cached", "max_tokens", "blocked", "rate_limit",
    "unavailable", "prompt_too_long", "auth_error", "server_error", "midstream_error",
    "truncated", "stall", "text",
)
_ERRORS: dict[str, tuple[int, str, str, list[dict[str, Any]]]] = {
    "bad_request": (400, "Request contains an invalid argument.", "INVALID_ARGUMENT", []),
    "prompt_too_long": (400, "The input token count (1200000) exceeds the maximum number of "
                        "tokens allowed (1048576).", "INVALID_ARGUMENT", []),
    "bad_key": (400, "API key not valid. Please pass a valid API key.", "INVALID_ARGUMENT",
                [{"@type": "type.googleapis.com/google.rpc.ErrorInfo", "reason": "API_KEY_INVALID",
                  "domain": "googleapis.com",
                  "metadata": {"service": "generativelanguage.googleapis.com"}}]),
    "auth_error": (403, "Method doesn't allow unregistered callers (callers without established "
                   "identity). Please use API Key or other form of API consumer identity to call "
                   "this API.", "PERMISSION_DENIED", []),
    "not_found": (404, "Method not found.", "NOT_FOUND", []),
    "rate_limit": (429, "You exceeded your current quota, please check your plan and billing "
                   "details.", "RESOURCE_EXHAUSTED",
                   [{"@type": "type.googleapis.com/google.rpc.RetryInfo", "retryDelay": "7s"}]),
    "server_error": (500, "An internal error has occurred. Please retry or report in "
                     "https://developers.generativeai.google/guide/troubleshooting", "INTERNAL",
                     []),
    "unavailable": (503, "The model is overloaded. Please try again later.", "UNAVAILABLE", []),
}
_REQUEST_FIELDS = {"contents", "tools", "toolConfig", "safetySettings", "systemInstruction",
                   "generationConfig", "cachedContent"}
_GENERATION_FIELDS = {
    "stopSequences", "responseMimeType", "responseSchema", "responseJsonSchema", "candidateCount",
    "maxOutputTokens", "temperature", "topP", "topK", "seed", "presencePenalty",
    "frequencyPenalty", "responseLogprobs", "logprobs", "thinkingConfig", "responseModalities",
    "mediaResolution", "speechConfig",
}
_DATA_FIELDS = {"text", "inlineData", "fileData", "functionCall", "functionResponse",
                "executableCode", "codeExecutionResult"}
_PART_FIELDS = _DATA_FIELDS | {"thought", "thoughtSignature", "videoMetadata"}
_SAMPLE_VALUES = {"string": "Paris", "integer": 3, "number": 1.5, "boolean": True,
                  "array": [], "object": {}}
_SIGNATURE = "ZmFrZS10aG91Z2h0LXNpZ25hdHVyZQ=="
_THOUGHT = "The user wants an answer. Think first."
_WORD = re.compile(r"\w+|[^\w\s]")
_REQUESTS_KEY = web.AppKey("requests", deque)
_API_KEY = web.AppKey("api_key", str)


def create_app(*, api_key: str = DEFAULT_API_KEY) -> web.Application:
    """The fake's aiohttp app; ``api_key`` is the only key accepted."""
    app = web.Application(client_max_size=64 * 1024 * 1024)
    app[_REQUESTS_KEY] = deque(maxlen=50)
    app[_API_KEY] = api_key
    app.router.add_post("/v1beta/models/{target}", _generate)
    app.router.add_get("/fake/requests", _recorded)
    return app


def error_body(name: str) -> dict[str, Any]:
    """Google's error envelope for a named error (``rate_limit``, ``prompt_too_long``...)."""
    code, message, status, details = _ERRORS[name]
    error: dict[str, Any] = {"code": code, "message": message, "status": status}
    if details:
        error["details"] = details
    return {"error": error}


def _error_response(name: str, message: str | None = None) -> web.Response:
    body = error_body(name)
    if message is not None:
        body["error"]["message"] = message
    return web.Response(status=body["error"]["code"], body=orjson.dumps(body),
                        content_type="application/json", charset="UTF-8")


async def _recorded(request: web.Request) -> web.Response:
    return web.Response(body=orjson.dumps(list(request.app[_REQUESTS_KEY])),
                        content_type="application/json")


async def _generate(request: web.Request) -> web.StreamResponse:
    model, _, action = request.match_info["target"].partition(":")
    raw = await request.read()
    request.app[_REQUESTS_KEY].append({"path": request.path, "query": dict(request.query),
                                       "headers": {str(k).lower(): v
                                                   for k, v in request.headers.items()},
                                       "body": raw.decode("utf-8", "replace")})
    if action not in ("generateContent", "streamGenerateContent", "batchEmbedContents"):
        return _error_response("not_found", f"Method {action!r} is not found.")
    key = request.headers.get("x-goog-api-key") or request.query.get("key")
    if not key or key != request.app[_API_KEY]:
        return _error_response("bad_key" if key else "auth_error")
    try:
        body = orjson.loads(raw)
    except orjson.JSONDecodeError:
        return _error_response("bad_request", "Invalid JSON payload received.")
    if action == "batchEmbedContents":
        return _embed(body, model)
    problem = _request_problem(body, model)
    if problem is not None:
        return _error_response("bad_request", problem)
    scenario = _scenario(request, model)
    if scenario in _ERRORS:
        return _error_response(scenario)
    reply = _Reply(body, model, scenario)
    if action == "generateContent":
        if scenario == "stall":
            await _stall(request)
        return web.Response(body=orjson.dumps(reply.whole()), content_type="application/json",
                            charset="UTF-8")
    if request.query.get("alt") != "sse":
        return _error_response("bad_request", "This fake streams only with alt=sse.")
    return await _stream(request, reply)


def _embed(body: Any, model: str) -> web.Response:
    """``batchEmbedContents``: one deterministic vector per request (8 values, or
    ``outputDimensionality``); like Google, no usage is reported."""
    requests = body.get("requests") if isinstance(body, dict) else None
    if not isinstance(requests, list) or not requests:
        return _error_response("bad_request", "* BatchEmbedContentsRequest.requests: required")
    embeddings = []
    for index, item in enumerate(requests):
        parts = ((item.get("content") or {}).get("parts") or []) if isinstance(item, dict) else []
        if item.get("model") != f"models/{model}" or not parts or "text" not in parts[0]:
            return _error_response("bad_request", f"* requests[{index}]: invalid request")
        size = int(item.get("outputDimensionality") or 8)
        digest = hashlib.shake_256(str(parts[0]["text"]).encode()).digest(size)
        embeddings.append({"values": [round(b / 255.0, 6) for b in digest]})
    return web.Response(body=orjson.dumps({"embeddings": embeddings}),
                        content_type="application/json", charset="UTF-8")


def _scenario(request: web.Request, model: str) -> str:
    chosen = request.headers.get("x-fake-scenario")
    if chosen:
        return chosen
    return next((name for name in SCENARIOS if name.replace("_", "-") in model), "text")


async def _stream(request: web.Request, reply: _Reply) -> web.StreamResponse:
    response = web.StreamResponse(headers={"Content-Type": "text/event-stream"})
    await response.prepare(request)
    delay_s = int(request.headers.get("x-fake-delay-ms", "0")) / 1000
    events = list(reply.events())
    for index, event in enumerate(events):
        is_last = index == len(events) - 1
        if is_last and reply.scenario == "truncated" and request.transport is not None:
            request.transport.close()  # the chunked body never ends: a broken stream
            return response
        if is_last and reply.scenario == "midstream_error":
            event = error_body("unavailable")
        if is_last and reply.scenario == "stall":
            await _stall(request)
        elif delay_s and index:
            await asyncio.sleep(delay_s)
        await response.write(b"data: " + orjson.dumps(event) + b"\r\n\r\n")
    await response.write_eof()
    return response


async def _stall(request: web.Request) -> None:
    """Silence until the client gives up, at most ``x-fake-stall-s`` seconds (≤ 300)."""
    deadline = time.monotonic() + min(float(request.headers.get("x-fake-stall-s", "30")), 300.0)
    while time.monotonic() < deadline:
        if request.transport is None or request.transport.is_closing():
            return
        await asyncio.sleep(0.05)


# --- what Google refuses -------------------------------------------------------------------


def _request_problem(body: Any, model: str) -> str | None:
    if not isinstance(body, dict):
        return "Invalid JSON payload received. Expected an object."
    unknown = set(body) - _REQUEST_FIELDS
    unknown |= set(body.get("generationConfig") or {}) - _GENERATION_FIELDS
    if unknown:
        name = sorted(unknown)[0]
        return f'Invalid JSON payload received. Unknown name "{name}": Cannot find field.'
    contents = body.get("contents")
    if not isinstance(contents, list) or not contents:
        return "* GenerateContentRequest.contents: contents is not specified"
    for index, content in enumerate(contents):
        problem = _content_problem(content, index, model)
        if problem is not None:
            return problem
    return _function_response_problem(contents) or _tools_problem(body)


def _content_problem(content: Any, index: int, model: str) -> str | None:
    if not isinstance(content, dict) or content.get("role") not in ("user", "model"):
        return "Please use a valid role: user, model."
    parts = content.get("parts")
    if not isinstance(parts, list) or not parts:
        return f"* GenerateContentRequest.contents[{index}].parts: must not be empty."
    for part in parts:
        fields = set(part) if isinstance(part, dict) else set()
        if len(fields & _DATA_FIELDS) != 1 or fields - _PART_FIELDS:
            return f"* GenerateContentRequest.contents[{index}].parts: invalid part {part!r}"
    calls = [part for part in parts if "functionCall" in part]
    if calls and content["role"] != "model":
        return "Please ensure that function call turns come from the model."
    if calls and model.startswith("gemini-3") and "thoughtSignature" not in calls[0]:
        return (f"Function call is missing a thought_signature in functionCall parts. "
                f"Position contents[{index}].parts[{parts.index(calls[0])}].")
    return None


def _function_response_problem(contents: list[dict[str, Any]]) -> str | None:
    calls = 0
    for content in contents:
        responses = sum("functionResponse" in part for part in content["parts"])
        if responses and responses != calls:
            return ("Please ensure that the number of function response parts is equal to the "
                    "number of function call parts of the function call turn.")
        calls = sum("functionCall" in part for part in content["parts"])
    return None


def _tools_problem(body: dict[str, Any]) -> str | None:
    for tool in body.get("tools") or []:
        for declaration in tool.get("functionDeclarations") or []:
            if not declaration.get("name"):
                return "* GenerateContentRequest.tools[0].function_declarations: name is required"
            if "parameters" in declaration and "parametersJsonSchema" in declaration:
                return "parameters and parametersJsonSchema are mutually exclusive"
    mode = ((body.get("toolConfig") or {}).get("functionCallingConfig") or {}).get("mode", "AUTO")
    return None if mode in ("AUTO", "ANY", "NONE", "VALIDATED") else f"Invalid mode {mode!r}"


# --- what the fake model says --------------------------------------------------------------


def _last_user_text(body: dict[str, Any]) -> str:
    users = [c for c in body["contents"] if c.get("role") == "user"]
    texts = []
    for part in users[-1]["parts"] if users else []:
        if "text" in part:
            texts.append(str(part["text"]))
        elif "functionResponse" in part:
            texts.append(orjson.dumps(part["functionResponse"].get("response")).decode())
    return " ".join(texts)[:200] or "nothing"


def _tokens(text: str) -> int:
    return max(1, len(_WORD.findall(text)))


def _function_calls(body: dict[str, Any], scenario: str) -> list[dict[str, Any]]:
    tools = body.get("tools") or []
    declarations = [d for tool in tools for d in tool.get("functionDeclarations") or []]
    config = (body.get("toolConfig") or {}).get("functionCallingConfig") or {}
    wants = scenario.endswith("tool_use") or config.get("mode") == "ANY"
    answered = any("functionResponse" in part for part in body["contents"][-1]["parts"])
    if not declarations or not wants or answered or config.get("mode") == "NONE":
        return []
    allowed = config.get("allowedFunctionNames")
    usable = [d for d in declarations if not allowed or d["name"] in allowed] or declarations
    count = 2 if scenario == "parallel_tool_use" else 1
    chosen = (usable[i % len(usable)] for i in range(count))
    return [{"name": d["name"], "args": _sample_args(d)} for d in chosen]


def _sample_args(declaration: dict[str, Any]) -> dict[str, Any]:
    schema = declaration.get("parametersJsonSchema") or declaration.get("parameters") or {}
    properties = schema.get("properties") or {}
    types = {name: str(spec.get("type", "string")).lower() for name, spec in properties.items()}
    return {name: _SAMPLE_VALUES.get(types.get(name, ""), "Paris")
            for name in schema.get("required") or []}


class _Reply:
    """The answer to one request, whole or as stream events; deterministic for a given body."""

    def __init__(self, body: dict[str, Any], model: str, scenario: str) -> None:
        self.model = model
        self.scenario = scenario
        self.calls = _function_calls(body, scenario)
        config = body.get("generationConfig") or {}
        self.count = int(config.get("candidateCount", 1))
        self.top_logprobs = int(config.get("logprobs", 0)) if config.get("responseLogprobs") else -1
        said = _last_user_text(body)
        is_json = config.get("responseMimeType") == "application/json"
        self.text = orjson.dumps({"echo": said}).decode() if is_json else f"Echo: {said}"
        if scenario == "max_tokens":
            self.text = self.text[: len(self.text) // 2]
        self.response_id = hashlib.sha256(orjson.dumps(body)).hexdigest()[:22]
        self.usage = self._usage(body)

    def _usage(self, body: dict[str, Any]) -> dict[str, Any]:
        prompt = _tokens(orjson.dumps([body.get("systemInstruction"), body["contents"]]).decode())
        output = _tokens(orjson.dumps(self.calls).decode() if self.calls else self.text)
        output *= self.count
        thoughts = _tokens(_THOUGHT) if self.scenario == "thinking" else 0
        usage: dict[str, Any] = {
            "promptTokenCount": prompt, "candidatesTokenCount": output,
            "totalTokenCount": prompt + output + thoughts,
            "promptTokensDetails": [{"modality": "TEXT", "tokenCount": prompt}],
        }
        if thoughts:
            usage["thoughtsTokenCount"] = thoughts
        if self.scenario == "cached":
            usage["cachedContentTokenCount"] = prompt // 2
        return usage

    def whole(self) -> dict[str, Any]:
        if self.scenario == "blocked":
            return self._envelope([], self.usage, {"promptFeedback": {"blockReason": "SAFETY"}})
        parts = self._thought() + (self._call_parts() or [{"text": self.text}])
        candidates = [self._candidate(i, parts, self._finish()) for i in range(self.count)]
        return self._envelope(candidates, self.usage)

    def events(self) -> Iterator[dict[str, Any]]:
        if self.scenario == "blocked":
            yield self._envelope([], self.usage, {"promptFeedback": {"blockReason": "SAFETY"}})
            return
        pieces = [self._thought()] if self.scenario == "thinking" else []
        if self.calls:
            pieces.append(self._call_parts())
        else:
            pieces.extend([{"text": text}] for text in _pieces(self.text))
        prompt = self.usage["promptTokenCount"]
        partial = {"promptTokenCount": prompt, "totalTokenCount": prompt}
        for number, parts in enumerate(pieces):
            is_last = number == len(pieces) - 1
            finish = self._finish() if is_last else None
            candidates = [self._candidate(i, parts, finish) for i in range(self.count)]
            yield self._envelope(candidates, self.usage if is_last else partial)

    def _envelope(self, candidates: list[dict[str, Any]], usage: dict[str, Any],
                  extra: dict[str, Any] | None = None) -> dict[str, Any]:
        envelope: dict[str, Any] = {"candidates": candidates} if candidates else {}
        envelope.update(extra or {})
        envelope.update(usageMetadata=usage, modelVersion=self.model, responseId=self.response_id)
        return envelope

    def _candidate(self, index: int, parts: list[dict[str, Any]], finish: str | None
                   ) -> dict[str, Any]:
        candidate: dict[str, Any] = {"content": {"parts": parts, "role": "model"}, "index": index}
        if finish is not None:
            candidate["finishReason"] = finish
        if self.top_logprobs >= 0:
            text = "".join(p["text"] for p in parts if "text" in p and not p.get("thought"))
            candidate["logprobsResult"] = self._logprobs(text)
        return candidate

    def _logprobs(self, text: str) -> dict[str, Any]:
        """Made-up but well-formed log probabilities, one entry per word or mark of ``text``."""
        chosen = [{"token": token, "logProbability": -0.25} for token in _WORD.findall(text)]
        tops = [{"candidates": [token, {"token": "x", "logProbability": -5.0}][
            : self.top_logprobs]} for token in chosen]
        return {"topCandidates": tops, "chosenCandidates": chosen}

    def _finish(self) -> str:
        return "MAX_TOKENS" if self.scenario == "max_tokens" else "STOP"

    def _thought(self) -> list[dict[str, Any]]:
        return [{"text": _THOUGHT, "thought": True}] if self.scenario == "thinking" else []

    def _call_parts(self) -> list[dict[str, Any]]:
        parts: list[dict[str, Any]] = [{"functionCall": call} for call in self.calls]
        if parts:
            parts[0]["thoughtSignature"] = _SIGNATURE
        return parts


def _pieces(text: str) -> list[str]:
    """Text split after every few words, as Gemini's streamed pieces are."""
    words = text.split(" ")
    return [" ".join(words[i:i + 3]) + (" " if i + 3 < len(words) else "")
            for i in range(0, len(words), 3)]


# --- running it ----------------------------------------------------------------------------


async def start_gemini_server(
    *, host: str = "127.0.0.1", port: int = 0, api_key: str = DEFAULT_API_KEY
) -> tuple[web.AppRunner, str]:
    """Serve the fake in the running event loop; returns the runner and the provider base URL."""
    return await start_fake_app(create_app(api_key=api_key), host=host, port=port, path="/v1beta")


def run_gemini_server(*, api_key: str = DEFAULT_API_KEY, timeout_s: float = 30.0
                     ) -> contextlib.AbstractContextManager[str]:
    """Run the fake as a subprocess on a free port; yields its base URL, stops it on exit."""
    return run_fake_subprocess("tests.fakes.gemini_server", api_key=api_key, timeout_s=timeout_s)


def main(argv: list[str] | None = None) -> None:
    fake_main(argv, description="A fake Gemini API server.", default_port=8766,
              default_api_key=DEFAULT_API_KEY, create_app=create_app, path="/v1beta")


if __name__ == "__main__":
    main()
