"""The Azure OpenAI adapter against recorded Azure wire fixtures (``tests/fixtures/azure``).

Azure is OpenAI with another address and key header, so the golden files pin what differs (URL,
headers, the body sent, the prompt-filter chunk dropped from streams) and that everything else
passes through unchanged. ``UPDATE_GOLDEN=1`` rewrites the expected files.
"""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import orjson
import pytest
from openai.types.chat import ChatCompletion, ChatCompletionChunk

from router_engine.deployment import Deployment
from router_engine.providers.azure import DEFAULT_API_VERSION, AzureOpenAIAdapter
from router_engine.providers.openai import OpenAIAdapter
from schemas.config import ProviderConfig
from schemas.config_loader import ConfigError, parse_config
from schemas.errors import (
    ContentPolicyViolation,
    ContextLengthExceeded,
    LLMuxError,
    UpstreamAuthError,
    UpstreamError,
    UpstreamRateLimited,
    UpstreamUnavailable,
)
from schemas.token_usage import TokenUsage
from tests.router_engine.translation.golden import (
    assert_golden_bytes,
    assert_golden_json,
    load_json,
    split_every,
)

FIXTURES = Path(__file__).resolve().parents[2] / "fixtures" / "azure"
KEY = "azure-test-SECRET-0123456789abcdef"
ENDPOINT = "https://contoso-eastus.openai.azure.com"


def make(**kwargs: Any) -> tuple[AzureOpenAIAdapter, Deployment]:
    fields: dict[str, Any] = {"base_url": ENDPOINT, "api_key": KEY, **kwargs}
    config = ProviderConfig(name="az", type="azure", models=["gpt-4o"], **fields)
    deployment = Deployment(id="az/gpt-4o", model_group="gpt-4o",
                            upstream_model="gpt4o-prod eu", provider=config)
    return AzureOpenAIAdapter(config), deployment


def translate_stream(raw: bytes, *, forward_usage: bool, piece: int | None = None) -> bytes:
    adapter, deployment = make()
    translator = adapter.stream_translator(deployment, forward_usage_chunk=forward_usage)
    pieces = split_every(raw, piece) if piece else [raw]
    frames = [frame for data in pieces for frame in translator.feed(data)]
    return b"".join(frames + translator.finish())


def test_is_the_openai_adapter() -> None:
    assert issubclass(AzureOpenAIAdapter, OpenAIAdapter)


def test_url_names_the_deployment_and_api_version() -> None:
    adapter, deployment = make(base_url=ENDPOINT + "/openai/", api_version="2025-01-01-preview")
    request = adapter.build_request({"messages": []}, deployment, is_streaming=False)
    assert request.url == (f"{ENDPOINT}/openai/deployments/gpt4o-prod%20eu/chat/completions"
                           "?api-version=2025-01-01-preview")


def test_default_api_version() -> None:
    adapter, deployment = make()
    request = adapter.build_request({"messages": []}, deployment, is_streaming=True)
    assert request.url.endswith(f"/chat/completions?api-version={DEFAULT_API_VERSION}")
    assert request.is_streaming


def test_key_goes_in_api_key_header_only() -> None:
    adapter, deployment = make(headers={"x-ms-client-request-id": "abc"}, timeout="9s")
    request = adapter.build_request({"messages": []}, deployment, is_streaming=False)
    assert request.headers["api-key"] == KEY
    assert "Authorization" not in request.headers, "an Azure key is not a bearer token"
    assert request.headers["x-ms-client-request-id"] == "abc"
    assert request.headers["Content-Type"] == "application/json"
    assert KEY not in request.url
    assert request.timeout_s == 9.0


def test_missing_endpoint_is_a_config_error() -> None:
    with pytest.raises(ConfigError, match=r"providers\[0\]\.base_url: azure needs"):
        parse_config("providers: [{name: az, type: azure, api_key: k}]", {})


@pytest.mark.parametrize("is_streaming", [False, True])
def test_request_body_matches_golden(is_streaming: bool) -> None:
    adapter, deployment = make()
    body = load_json(FIXTURES / "request_tools.openai.json")
    untouched = copy.deepcopy(body)
    request = adapter.build_request(body, deployment, is_streaming=is_streaming)
    name = "stream" if is_streaming else "whole"
    assert_golden_json(FIXTURES / f"request_tools.{name}.azure.json",
                       orjson.loads(request.body or b""))
    assert body == untouched


def test_response_passes_through_unchanged_with_usage() -> None:
    adapter, deployment = make()
    raw = (FIXTURES / "response_text.azure.json").read_bytes()
    parsed = adapter.parse_response(raw, deployment)
    assert parsed.body == raw, "Azure's body is already OpenAI's: no re-encoding"
    ChatCompletion.model_validate_json(parsed.body)
    assert parsed.usage == TokenUsage(prompt_tokens=1250, completion_tokens=6, cached_tokens=1024)


@pytest.mark.parametrize(("case", "forward_usage"),
                         [("text", True), ("text", False), ("tool_calls", False)])
def test_stream_matches_golden(case: str, forward_usage: bool) -> None:
    raw = (FIXTURES / f"stream_{case}.azure.sse").read_bytes()
    translated = translate_stream(raw, forward_usage=forward_usage)
    suffix = ".usage" if forward_usage else ""
    assert_golden_bytes(FIXTURES / f"stream_{case}{suffix}.openai.sse", translated)
    frames = translated.split(b"\n\n")
    assert frames[-2:] == [b"data: [DONE]", b""]
    for frame in frames[:-2]:
        chunk = ChatCompletionChunk.model_validate_json(frame.removeprefix(b"data: "))
        assert chunk.choices or chunk.usage is not None, "no choice-less annotation chunk"
    assert b"prompt_filter_results" not in translated
    assert all(frame in raw for frame in frames[:-2]), "forwarded frames are Azure's, unchanged"


@pytest.mark.parametrize("piece", [1, 5, 97])
def test_stream_split_anywhere_gives_the_same_frames(piece: int) -> None:
    raw = (FIXTURES / "stream_text.azure.sse").read_bytes()
    assert translate_stream(raw, forward_usage=True, piece=piece) == translate_stream(
        raw, forward_usage=True)


def test_stream_usage_and_completion() -> None:
    adapter, deployment = make()
    translator = adapter.stream_translator(deployment, forward_usage_chunk=False)
    translator.feed((FIXTURES / "stream_text.azure.sse").read_bytes())
    assert translator.saw_done
    assert translator.usage == TokenUsage(prompt_tokens=1250, completion_tokens=6,
                                          cached_tokens=1024)
    assert translator.text() == "Paris is sunny today."


@pytest.mark.parametrize(
    ("case", "status", "error"),
    [
        ("auth", 401, UpstreamAuthError),
        ("rate_limit", 429, UpstreamRateLimited),
        ("deployment_not_found", 404, UpstreamError),
        ("no_api_version", 404, UpstreamError),
        ("content_filter", 400, ContentPolicyViolation),
        ("context", 400, ContextLengthExceeded),
        ("server", 500, UpstreamError),
        ("unavailable", 503, UpstreamUnavailable),
    ],
)
def test_error_mapping(case: str, status: int, error: type[LLMuxError]) -> None:
    adapter, _ = make()
    mapped = adapter.parse_error(status, (FIXTURES / f"error_{case}.azure.json").read_bytes())
    assert type(mapped) is error
    assert KEY not in mapped.message


def test_content_filter_error_is_openais_content_policy_error() -> None:
    adapter, _ = make()
    mapped = adapter.parse_error(400, (FIXTURES / "error_content_filter.azure.json").read_bytes())
    assert mapped.to_dict()["error"]["code"] == "content_policy_violation"
    assert mapped.param == "prompt"
