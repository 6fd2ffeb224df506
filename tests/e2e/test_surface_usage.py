"""Usage and cost are always recorded, for every endpoint and provider type, streamed or not.

Each scenario runs under its own virtual key, so its row in ``/spend/keys`` (the spend
projection, built from the usage events) shows exactly what that scenario recorded.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import anthropic
import openai
import pytest

from tests.e2e.processes import wait_until
from tests.e2e.spend import create_key, spend_rows
from tests.e2e.surface_gateway import BROKEN, CHAT, EMBED, MASTER, PROVIDERS, surface_gateway
from tests.fakes.fixtures import FakeServer

MESSAGES = [{"role": "user", "content": "Tell the gateway a short story"}]
_COUNTED = ("requests", "prompt_tokens", "completion_tokens", "cached_tokens",
            "reasoning_tokens", "cost_micros")


@pytest.fixture(scope="module")
def base_url(tmp_path_factory: pytest.TempPathFactory,
             fake_openai_server: FakeServer) -> Iterator[str]:
    with surface_gateway(tmp_path_factory.mktemp("surface-usage"),
                         fake_openai_server.base_url) as (url, _):
        yield url


def _openai(base_url: str, key: str) -> openai.OpenAI:
    return openai.OpenAI(base_url=f"{base_url}/v1", api_key=key, max_retries=0)


def _spend_of(base_url: str, key_ids: list[str]) -> dict[str, dict[str, Any]]:
    """Each key's spend row, once the projector has recorded all of them."""
    def ready() -> dict[str, dict[str, Any]] | None:
        rows = {row["key_id"]: row for row in spend_rows(base_url, MASTER)}
        return rows if all(key in rows for key in key_ids) else None

    found: dict[str, dict[str, Any]] = wait_until(ready, timeout_s=30)
    return found


def test_streamed_and_unstreamed_calls_cost_the_same(base_url: str) -> None:
    keys: dict[str, tuple[str, str, str]] = {}
    headers: dict[str, str] = {}
    for provider in PROVIDERS:
        (plain, plain_id), (streamed, streamed_id) = (create_key(base_url, MASTER),
                                                      create_key(base_url, MASTER))
        raw = _openai(base_url, plain).chat.completions.with_raw_response.create(
            model=CHAT[provider], messages=MESSAGES)
        headers[provider] = raw.headers["x-llmux-cost-usd"]
        # NOTE: no include_usage: the gateway must get the usage on its own.
        chunks = list(_openai(base_url, streamed).chat.completions.create(
            model=CHAT[provider], messages=MESSAGES, stream=True))
        assert chunks and all(chunk.usage is None for chunk in chunks)
        keys[provider] = (plain_id, streamed_id, provider)
    rows = _spend_of(base_url, [key for pair in keys.values() for key in pair[:2]])
    for plain_id, streamed_id, provider in keys.values():
        plain_row = {name: rows[plain_id][name] for name in _COUNTED}
        streamed_row = {name: rows[streamed_id][name] for name in _COUNTED}
        assert plain_row == streamed_row, provider
        assert plain_row["requests"] == 1 and plain_row["cost_micros"] > 0, provider
        assert rows[plain_id]["cost_usd"] == headers[provider], provider


@pytest.mark.parametrize("provider", sorted(BROKEN))
def test_a_broken_stream_raises_in_the_sdk_and_its_partial_usage_is_recorded(
        base_url: str, provider: str) -> None:
    key, key_id = create_key(base_url, MASTER)
    received = []
    with pytest.raises(openai.APIError):
        for chunk in _openai(base_url, key).chat.completions.create(
                model=BROKEN[provider], messages=MESSAGES, stream=True):
            received.append(chunk)
    assert any(c.choices and c.choices[0].delta.content for c in received)
    row = _spend_of(base_url, [key_id])[key_id]
    assert row["requests"] == 1
    assert row["prompt_tokens"] > 0 and row["completion_tokens"] > 0


def test_broken_streams_end_with_an_error_in_every_api(base_url: str) -> None:
    key, key_id = create_key(base_url, MASTER)
    client = _openai(base_url, key)
    events: list[str] = []
    with pytest.raises(openai.APIError):
        for event in client.responses.create(model=BROKEN["anthropic"], input="Tell a story",
                                             stream=True):
            events.append(event.type)
    assert "response.output_text.delta" in events and events[-1] == "response.failed"
    messages = anthropic.Anthropic(base_url=base_url, api_key=key, max_retries=0)
    texts: list[str] = []
    with pytest.raises(anthropic.APIError), messages.messages.stream(
            model=BROKEN["openai"], max_tokens=100, messages=MESSAGES) as stream:
        texts.extend(stream.text_stream)
    assert "".join(texts)
    completions: list[str] = []
    with pytest.raises(openai.APIError):
        for chunk in client.completions.create(model=BROKEN["gemini"], prompt="Tell a story",
                                               stream=True):
            completions.append(chunk.choices[0].text if chunk.choices else "")
    assert "".join(completions)
    row = _spend_of(base_url, [key_id])[key_id]
    assert row["requests"] == 3 and row["completion_tokens"] > 0


def test_every_endpoint_records_usage(base_url: str) -> None:
    key, key_id = create_key(base_url, MASTER)
    client = _openai(base_url, key)
    usages = [
        client.embeddings.create(model=EMBED["openai"], input=["a b c", "d e"]).usage,
        client.completions.create(model=CHAT["anthropic"], prompt="Hi").usage,
    ]
    response = client.responses.create(model=CHAT["gemini"], input="Hi")
    message = anthropic.Anthropic(base_url=base_url, api_key=key, max_retries=0).messages.create(
        model=CHAT["azure"], max_tokens=100, messages=[{"role": "user", "content": "Hi"}])
    assert response.usage is not None
    prompt = sum(u.prompt_tokens for u in usages if u) + response.usage.input_tokens + \
        message.usage.input_tokens + message.usage.cache_read_input_tokens
    completion = sum(u.completion_tokens for u in usages[1:] if u) + \
        response.usage.output_tokens + message.usage.output_tokens
    row = _spend_of(base_url, [key_id])[key_id]
    assert (row["requests"], row["prompt_tokens"], row["completion_tokens"]) == (
        4, prompt, completion)


def test_an_unknown_price_costs_zero_and_never_fails(base_url: str) -> None:
    key, key_id = create_key(base_url, MASTER)
    raw = _openai(base_url, key).embeddings.with_raw_response.create(
        model=EMBED["vllm"], input="no list price for a self-hosted model")
    assert raw.http_response.status_code == 200
    assert raw.headers["x-llmux-cost-usd"] == "0.000000"
    row = _spend_of(base_url, [key_id])[key_id]
    assert row["prompt_tokens"] > 0 and row["cost_micros"] == 0


def test_usage_is_counted_locally_when_the_upstream_reports_none(base_url: str) -> None:
    key, key_id = create_key(base_url, MASTER)
    client = _openai(base_url, key)
    assert client.chat.completions.create(model="vl-no-usage", messages=MESSAGES).usage is None
    chunks = list(client.chat.completions.create(model="vl-no-usage", messages=MESSAGES,
                                                 stream=True))
    assert chunks and all(chunk.usage is None for chunk in chunks)
    row = _spend_of(base_url, [key_id])[key_id]
    assert row["requests"] == 2 and row["prompt_tokens"] > 0 and row["completion_tokens"] > 0
    assert row["cost_micros"] > 0
