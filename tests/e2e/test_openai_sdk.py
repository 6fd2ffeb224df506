"""The official openai SDK against a running standalone gateway: mock and a real-HTTP fake."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import openai
import pytest

from tests.e2e.processes import free_port, gateway, wait_until, write_config
from tests.fakes.fixtures import FakeServer

MASTER = "sk-master-sdk"


@pytest.fixture(scope="module")
def base_url(tmp_path_factory: pytest.TempPathFactory,
             fake_openai_server: FakeServer) -> Iterator[str]:
    tmp = tmp_path_factory.mktemp("sdk")
    port = free_port()
    fake = fake_openai_server.base_url
    config = write_config(tmp / "llmux.yaml", {
        "deployment": {"mode": "standalone", "data_dir": str(tmp / "data")},
        "auth": {"master_key": MASTER},
        "routing": {"retry_count": 0},
        "providers": [
            {"name": "mock", "type": "mock", "models": ["mock-gpt"],
             "mock": {"stream_chunks": 5}},
            {"name": "fake", "type": "openai", "api_key": "sk-upstream-secret", "base_url": fake,
             "models": ["gpt-fake", {"name": "gpt-broken", "upstream_model": "break-midstream"}]},
            {"name": "slowfake", "type": "openai", "api_key": "sk-upstream-secret",
             "base_url": fake, "models": [{"name": "gpt-slow", "upstream_model": "gpt-x"}],
             "headers": {"x-fake-chunks": "200", "x-fake-interval": "0.05",
                         "x-fake-tag": "disconnect"}},
        ],
    })
    with gateway(config, port, tmp / "gateway.log"):
        yield f"http://127.0.0.1:{port}"


@pytest.fixture(scope="module")
def client(base_url: str) -> openai.OpenAI:
    return openai.OpenAI(base_url=f"{base_url}/v1", api_key=MASTER, max_retries=0)


MESSAGES = [{"role": "user", "content": "Say hello to the gateway"}]


@pytest.mark.parametrize("model", ["mock-gpt", "gpt-fake"])
def test_non_streaming(client: openai.OpenAI, model: str) -> None:
    completion = client.chat.completions.create(model=model, messages=MESSAGES)
    assert completion.choices[0].message.content
    assert completion.usage is not None and completion.usage.prompt_tokens > 0
    assert completion.usage.completion_tokens > 0


@pytest.mark.parametrize("model", ["mock-gpt", "gpt-fake"])
def test_streaming(client: openai.OpenAI, model: str) -> None:
    chunks = list(client.chat.completions.create(model=model, messages=MESSAGES, stream=True))
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert len([c for c in chunks if c.choices]) >= 2 and text
    assert all(c.usage is None for c in chunks)  # the client did not ask for usage


@pytest.mark.parametrize("model", ["mock-gpt", "gpt-fake"])
def test_streaming_with_usage(client: openai.OpenAI, model: str) -> None:
    chunks = list(client.chat.completions.create(
        model=model, messages=MESSAGES, stream=True, stream_options={"include_usage": True}))
    usage = [c.usage for c in chunks if c.usage is not None]
    assert len(usage) == 1 and usage[0].completion_tokens > 0


def test_upstream_request_carries_our_credentials_not_the_clients(
        client: openai.OpenAI, fake_openai: FakeServer) -> None:
    client.chat.completions.create(model="gpt-fake", messages=MESSAGES)
    received = [r for r in fake_openai.requests() if r.get("path") == "/v1/chat/completions"]
    assert received, fake_openai.requests()
    headers = {name.lower(): value for name, value in received[-1]["headers"].items()}
    assert headers["authorization"] == "Bearer sk-upstream-secret"
    assert received[-1]["body"]["model"] == "gpt-fake"


def test_stream_broken_midway_ends_with_an_error_the_sdk_raises(client: openai.OpenAI) -> None:
    stream = client.chat.completions.create(model="gpt-broken", messages=MESSAGES, stream=True)
    received = []
    with pytest.raises(openai.APIError):
        for chunk in stream:
            received.append(chunk)
    assert received  # the chunks before the break reached the client


def test_client_disconnect_cancels_the_upstream_call(
        base_url: str, fake_openai: FakeServer) -> None:
    body = {"model": "gpt-slow", "messages": MESSAGES, "stream": True}
    headers = {"authorization": f"Bearer {MASTER}"}
    with httpx.stream("POST", f"{base_url}/v1/chat/completions", json=body, headers=headers,
                      timeout=10) as response:
        assert response.status_code == 200
        lines = response.iter_lines()
        assert next(lines).startswith("data: ")
    started = time.monotonic()
    events = wait_until(lambda: fake_openai.events("disconnect"), timeout_s=8)
    assert events == ["client_gone"]
    assert time.monotonic() - started < 8  # long before the 10 s the full stream would take


def test_models_lists_configured_models(client: openai.OpenAI) -> None:
    ids = {m.id for m in client.models.list()}
    assert {"mock-gpt", "gpt-fake", "gpt-broken", "gpt-slow"} <= ids
    assert client.models.retrieve("mock-gpt").id == "mock-gpt"


def test_unknown_model_is_a_not_found_error(client: openai.OpenAI) -> None:
    with pytest.raises(openai.NotFoundError):
        client.chat.completions.create(model="no-such-model", messages=MESSAGES)


def test_async_client(base_url: str) -> None:
    import asyncio

    async def run() -> str:
        async with openai.AsyncOpenAI(base_url=f"{base_url}/v1", api_key=MASTER) as aclient:
            stream = await aclient.chat.completions.create(model="mock-gpt", messages=MESSAGES,
                                                           stream=True)
            return "".join([c.choices[0].delta.content or "" async for c in stream if c.choices])

    assert asyncio.run(run())


def test_key_with_model_allow_list(base_url: str, tmp_path: Path) -> None:
    created = httpx.post(f"{base_url}/key/generate", json={"models": ["mock-gpt"]},
                         headers={"authorization": f"Bearer {MASTER}"}).json()
    limited = openai.OpenAI(base_url=f"{base_url}/v1", api_key=created["key"], max_retries=0)
    assert limited.chat.completions.create(model="mock-gpt", messages=MESSAGES).choices
    with pytest.raises(openai.PermissionDeniedError):
        limited.chat.completions.create(model="gpt-fake", messages=MESSAGES)
    assert {m.id for m in limited.models.list()} == {"mock-gpt"}
