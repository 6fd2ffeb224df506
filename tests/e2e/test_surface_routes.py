"""The gateway's OpenAI surface: every chat field reaches each provider (passed through or
translated), every route also answers without ``/v1``, and unbuilt APIs refuse clearly.

What each upstream received is read back from its fake server, so these tests see the wire.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import httpx
import openai
import orjson
import pytest

from tests.e2e.surface_gateway import CHAT, EMBED, MASTER, PROVIDERS, Fakes, surface_gateway
from tests.fakes.fixtures import FakeServer

PIXEL = ("iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNkYPhfDwAChwGA60e6kgAAAABJRU5"
         "ErkJggg==")
TOOL = {"type": "function", "function": {
    "name": "get_weather", "description": "Current weather of a city",
    "parameters": {"type": "object", "properties": {"city": {"type": "string"}},
                   "required": ["city"]}}}
SCHEMA = {"type": "object", "properties": {"answer": {"type": "string"}},
          "required": ["answer"], "additionalProperties": False}
FIELDS: dict[str, Any] = {
    "messages": [{"role": "system", "content": "Be brief."}, {"role": "user", "content": [
        {"type": "text", "text": "Describe this"},
        {"type": "image_url", "image_url": {"url": f"data:image/png;base64,{PIXEL}"}}]}],
    "tools": [TOOL], "tool_choice": "auto", "parallel_tool_calls": False,
    "response_format": {"type": "json_schema",
                        "json_schema": {"name": "answer", "schema": SCHEMA, "strict": True}},
    "stop": ["END"], "seed": 7, "max_completion_tokens": 64, "temperature": 0.3,
}
OPENAI_ONLY: dict[str, Any] = {"n": 2, "logprobs": True, "top_logprobs": 2}
"""Fields only some providers can honour (Anthropic refuses them rather than drop them)."""


@pytest.fixture(scope="module")
def surface(tmp_path_factory: pytest.TempPathFactory,
            fake_openai_server: FakeServer) -> Iterator[tuple[str, Fakes]]:
    with surface_gateway(tmp_path_factory.mktemp("surface-routes"),
                         fake_openai_server.base_url) as running:
        yield running


@pytest.fixture(scope="module")
def client(surface: tuple[str, Fakes]) -> openai.OpenAI:
    return openai.OpenAI(base_url=f"{surface[0]}/v1", api_key=MASTER, max_retries=0)


def _last_body(fakes: Fakes, provider: str) -> dict[str, Any]:
    records = [r for r in fakes.received(provider) if "body" in r]
    body = records[-1]["body"]
    decoded: dict[str, Any] = orjson.loads(body) if isinstance(body, str) else body
    return decoded


@pytest.mark.parametrize("provider", ["openai", "vllm", "azure"])
def test_openai_format_upstreams_receive_every_field_unchanged(
        client: openai.OpenAI, surface: tuple[str, Fakes], provider: str) -> None:
    for stream in (False, True):
        extra = {"stream": True, "stream_options": {"include_usage": True}} if stream else {}
        response = client.chat.completions.create(model=CHAT[provider], **FIELDS, **OPENAI_ONLY,
                                                  **extra)
        assert response
        sent = _last_body(surface[1], provider)
        for name, value in {**FIELDS, **OPENAI_ONLY, **extra}.items():
            assert sent[name] == value, (provider, name)
        assert sent.get("stream", False) is stream


def test_anthropic_receives_translated_fields(client: openai.OpenAI,
                                              surface: tuple[str, Fakes]) -> None:
    client.chat.completions.create(model=CHAT["anthropic"], **FIELDS)
    sent = _last_body(surface[1], "anthropic")
    assert sent["system"][0] == {"type": "text", "text": "Be brief."}
    assert "JSON schema" in sent["system"][1]["text"] and '"answer"' in sent["system"][1]["text"]
    image = sent["messages"][0]["content"][1]
    assert image == {"type": "image", "source": {"type": "base64", "media_type": "image/png",
                                                 "data": PIXEL}}
    assert sent["tools"] == [{"name": "get_weather", "description": "Current weather of a city",
                              "input_schema": TOOL["function"]["parameters"]}]
    assert sent["tool_choice"] == {"type": "auto", "disable_parallel_tool_use": True}
    assert (sent["stop_sequences"], sent["max_tokens"], sent["temperature"]) == (["END"], 64, 0.3)
    for name, value in (("n", 2), ("logprobs", True)):
        with pytest.raises(openai.BadRequestError) as refused:
            client.chat.completions.create(model=CHAT["anthropic"], **FIELDS, **{name: value})
        assert refused.value.code == "not_supported" and refused.value.param == name


def test_gemini_receives_translated_fields(client: openai.OpenAI,
                                           surface: tuple[str, Fakes]) -> None:
    completion = client.chat.completions.create(model=CHAT["gemini"], **FIELDS, **OPENAI_ONLY)
    sent = _last_body(surface[1], "gemini")
    assert sent["systemInstruction"] == {"parts": [{"text": "Be brief."}]}
    assert {"inlineData": {"mimeType": "image/png", "data": PIXEL}} in sent["contents"][0]["parts"]
    assert sent["tools"][0]["functionDeclarations"][0]["name"] == "get_weather"
    assert sent["toolConfig"] == {"functionCallingConfig": {"mode": "AUTO"}}
    config = sent["generationConfig"]
    assert (config["stopSequences"], config["seed"], config["maxOutputTokens"]) == (["END"], 7, 64)
    assert (config["candidateCount"], config["responseLogprobs"]) == (2, True)
    assert config["logprobs"] == 2
    assert config["responseMimeType"] == "application/json"
    assert config["responseJsonSchema"] == SCHEMA
    assert len(completion.choices) == 2
    assert completion.choices[0].logprobs is not None and completion.choices[0].logprobs.content
    assert isinstance(orjson.loads(completion.choices[0].message.content or ""), dict)


def test_the_mock_accepts_every_field(client: openai.OpenAI) -> None:
    completion = client.chat.completions.create(model=CHAT["mock"], **FIELDS, **OPENAI_ONLY)
    assert completion.choices[0].message.content


@pytest.mark.parametrize("path", ["/chat/completions", "/completions", "/embeddings",
                                  "/responses", "/messages", "/models", "/models/mock-gpt"])
def test_every_route_answers_without_the_v1_prefix(surface: tuple[str, Fakes],
                                                   path: str) -> None:
    bodies: dict[str, dict[str, Any]] = {
        "/chat/completions": {"model": "mock-gpt", "messages": [{"role": "user",
                                                                 "content": "hi"}]},
        "/completions": {"model": "mock-gpt", "prompt": "hi"},
        "/embeddings": {"model": EMBED["mock"], "input": "hi"},
        "/responses": {"model": "mock-gpt", "input": "hi"},
        "/messages": {"model": "mock-gpt", "max_tokens": 20,
                      "messages": [{"role": "user", "content": "hi"}]},
    }
    headers = {"authorization": f"Bearer {MASTER}"}
    answers = []
    for prefix in ("/v1", ""):
        url = f"{surface[0]}{prefix}{path}"
        response = httpx.post(url, json=bodies[path], headers=headers, timeout=10) \
            if path in bodies else httpx.get(url, headers=headers, timeout=10)
        assert response.status_code == 200, (prefix, path, response.text)
        answers.append(response.json())
    assert answers[0].keys() == answers[1].keys()


@pytest.mark.parametrize(("method", "path"), [
    ("POST", "/v1/audio/speech"), ("POST", "/v1/audio/transcriptions"),
    ("POST", "/audio/translations"), ("GET", "/v1/batches"), ("POST", "/v1/batches"),
    ("GET", "/batches/batch_1"), ("POST", "/v1/batches/batch_1/cancel"),
])
def test_audio_and_batches_are_refused_as_not_supported(surface: tuple[str, Fakes],
                                                        method: str, path: str) -> None:
    response = httpx.request(method, surface[0] + path, json={"model": "x"},
                             headers={"authorization": f"Bearer {MASTER}"}, timeout=10)
    assert response.status_code == 400
    error = response.json()["error"]
    assert (error["type"], error["code"]) == ("invalid_request_error", "not_supported")
    assert "not supported" in error["message"]


def test_the_sdk_surfaces_unsupported_apis_as_bad_requests(client: openai.OpenAI) -> None:
    with pytest.raises(openai.BadRequestError, match="not supported"):
        client.audio.speech.create(model="tts-1", voice="alloy", input="hi")
    with pytest.raises(openai.BadRequestError, match="not supported"):
        client.batches.list()


@pytest.mark.parametrize(("path", "body", "param"), [
    ("/v1/embeddings", {"model": "mock-embed"}, "input"),
    ("/v1/embeddings", {"model": "mock-embed", "input": [None]}, "input"),
    ("/v1/completions", {"model": "mock-gpt", "prompt": ""}, "prompt"),
    ("/v1/responses", {"model": "mock-gpt"}, "input"),
    ("/v1/responses", {"model": "mock-gpt", "input": "x", "tools": [{"type": "web_search"}]},
     "tools[0].type"),
])
def test_invalid_requests_name_the_field(surface: tuple[str, Fakes], path: str,
                                         body: dict[str, Any], param: str) -> None:
    response = httpx.post(surface[0] + path, json=body,
                          headers={"authorization": f"Bearer {MASTER}"}, timeout=10)
    assert response.status_code == 400
    assert response.json()["error"]["param"] == param


@pytest.mark.parametrize("provider", PROVIDERS)
def test_new_endpoints_check_model_access_like_chat(surface: tuple[str, Fakes],
                                                    provider: str) -> None:
    created = httpx.post(f"{surface[0]}/key/generate", json={"models": ["mock-gpt"]},
                         headers={"authorization": f"Bearer {MASTER}"}, timeout=10).json()
    limited = openai.OpenAI(base_url=f"{surface[0]}/v1", api_key=created["key"], max_retries=0)
    if provider == "mock":
        assert limited.responses.create(model="mock-gpt", input="hi").output_text
        return
    with pytest.raises(openai.PermissionDeniedError):
        limited.responses.create(model=CHAT[provider], input="hi")
    with pytest.raises(openai.PermissionDeniedError):
        limited.completions.create(model=CHAT[provider], prompt="hi")
    if provider in EMBED:
        with pytest.raises(openai.PermissionDeniedError):
            limited.embeddings.create(model=EMBED[provider], input="hi")
