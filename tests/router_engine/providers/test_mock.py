"""The in-process ``mock`` provider: OpenAI's wire format, deterministic replies, real counts."""

from __future__ import annotations

from dataclasses import replace

import orjson
import pytest

from router_engine.deployment import Deployment
from router_engine.providers import MOCK_BASE_URL, MockAdapter, mock_transport
from router_engine.tokens import count_request_prompt_tokens, count_text_tokens, warm_tokenizers
from schemas.config import MockOptions, ProviderConfig
from schemas.errors import UpstreamTimeout
from schemas.token_usage import TokenUsage

MESSAGES = [{"role": "system", "content": "Be brief."},
            {"role": "user", "content": "What is the capital of France?"}]
REPLY = "This is a mock response to: What is the capital of France?"


def setup(**options: object) -> tuple[MockAdapter, Deployment, ProviderConfig]:
    config = ProviderConfig(name="mock", type="mock", models=["gpt-4o-mini"],
                            mock=MockOptions(**options))  # type: ignore[arg-type]
    deployment = Deployment(id="mock/gpt-4o-mini", model_group="gpt-4o-mini",
                            upstream_model="gpt-4o-mini", provider=config)
    return MockAdapter(config), deployment, config


async def test_non_stream_reply_and_usage() -> None:
    adapter, deployment, config = setup()
    body = {"model": "gpt-4o-mini", "messages": MESSAGES}
    request = adapter.build_request(body, deployment, is_streaming=False)
    assert request.url == f"{MOCK_BASE_URL}/chat/completions"
    response = await mock_transport(config).send(request)
    raw = await response.read()
    parsed = adapter.parse_response(raw, deployment)
    doc = orjson.loads(raw)
    assert doc["object"] == "chat.completion"
    assert doc["choices"][0]["message"] == {"role": "assistant", "content": REPLY,
                                            "refusal": None}
    assert parsed.usage == TokenUsage(
        prompt_tokens=count_request_prompt_tokens(body, "gpt-4o-mini"),
        completion_tokens=count_text_tokens(REPLY, "gpt-4o-mini"),
    )
    assert parsed.usage is not None and parsed.usage.prompt_tokens > 10


async def test_same_request_same_reply() -> None:
    adapter, deployment, config = setup()
    body = {"model": "gpt-4o-mini", "messages": MESSAGES}
    transport = mock_transport(config)
    first, second = [
        orjson.loads(await (await transport.send(
            adapter.build_request(body, deployment, is_streaming=False))).read())
        for _ in range(2)
    ]
    assert first["id"] == second["id"] and first["choices"] == second["choices"]


async def test_max_tokens_cuts_the_reply() -> None:
    adapter, deployment, config = setup()
    body = {"model": "gpt-4o-mini", "messages": MESSAGES, "max_tokens": 4}
    response = await mock_transport(config).send(
        adapter.build_request(body, deployment, is_streaming=False))
    doc = orjson.loads(await response.read())
    assert doc["choices"][0]["finish_reason"] == "length"
    assert 0 < doc["usage"]["completion_tokens"] <= 4


async def test_stream_chunks_usage_and_done() -> None:
    adapter, deployment, config = setup(stream_chunks=5)
    body = {"model": "gpt-4o-mini", "messages": MESSAGES, "stream": True}
    response = await mock_transport(config).send(
        adapter.build_request(body, deployment, is_streaming=True))
    assert response.headers["content-type"] == "text/event-stream"
    translator = adapter.stream_translator(deployment, forward_usage_chunk=False)
    frames = [f async for chunk in response.iter_chunks() for f in translator.feed(chunk)]
    assert frames[-1] == b"data: [DONE]\n\n"
    contents = [orjson.loads(f[6:])["choices"][0]["delta"].get("content") for f in frames[1:-2]]
    assert len(contents) == 5 and "".join(contents) == REPLY
    assert translator.saw_done and translator.text() == REPLY
    assert translator.usage == TokenUsage(
        prompt_tokens=count_request_prompt_tokens(body, "gpt-4o-mini"),
        completion_tokens=count_text_tokens(REPLY, "gpt-4o-mini"),
    )
    assert not any(b'"choices":[]' in f for f in frames), "usage chunk hidden: client did not ask"


async def test_latency_delays_the_reply() -> None:
    warm_tokenizers(["gpt-4o-mini"])  # so only the latency can make the call slow
    adapter, deployment, config = setup(latency="300ms")
    body = {"model": "gpt-4o-mini", "messages": MESSAGES}
    request = replace(adapter.build_request(body, deployment, is_streaming=False), timeout_s=0.02)
    with pytest.raises(UpstreamTimeout):
        await mock_transport(config).send(request)


async def test_unknown_endpoint_is_a_404_in_openai_shape() -> None:
    adapter, deployment, config = setup()
    request = adapter.build_request({"messages": []}, deployment, is_streaming=False)
    response = await mock_transport(config).send(replace(request, url=f"{MOCK_BASE_URL}/nope"))
    assert response.status == 404
    assert orjson.loads(await response.read())["error"]["code"] == "unknown_url"
