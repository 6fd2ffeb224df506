"""Fallback chains, fail-fast groups, transparent stream retries and the control endpoints' guards.

One standalone gateway for the module, with live stats in Redis (``routing.distributed: true``)
under a key prefix of its own; each test uses its own model groups, so breakers don't interact.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import openai
import pytest
import redis
from openai.types.chat import ChatCompletionChunk, ChatCompletionMessageParam

from tests.e2e.processes import free_port, gateway, write_config
from tests.e2e.spend import create_key
from tests.fakes.fixtures import FakeServer
from tests.fakes.openai_server import reply_text

pytestmark = pytest.mark.services

MASTER = "sk-master-fallbacks"
ADMIN = {"authorization": f"Bearer {MASTER}"}
MESSAGES: list[ChatCompletionMessageParam] = [{"role": "user", "content": "Fall back gracefully"}]


def _provider(name: str, base_url: str, *models: dict[str, Any], **fields: Any) -> dict[str, Any]:
    return {"name": name, "type": "openai", "api_key": f"sk-{name}", "base_url": base_url,
            "models": list(models), **fields}


@pytest.fixture(scope="module")
def base_url(tmp_path_factory: pytest.TempPathFactory, fake_openai_server: FakeServer,
             redis_url: str) -> Iterator[str]:
    tmp = tmp_path_factory.mktemp("fallbacks")
    prefix = f"t{uuid.uuid4().hex[:12]}:"
    fake = fake_openai_server.base_url
    config = write_config(tmp / "llmux.yaml", {
        "deployment": {"mode": "standalone", "data_dir": str(tmp / "data")},
        "auth": {"master_key": MASTER},
        "redis": {"url": redis_url, "key_prefix": prefix},
        "routing": {"distributed": True, "retry_count": 2, "retry_backoff": 0,
                    "allowed_fails": 1, "cooldown": "60s",
                    "fallbacks": {"primary": ["missing", "secondary"]}},
        "providers": [
            _provider("down", fake, {"name": "primary", "upstream_model": "fail-500"},
                      {"name": "lonely", "upstream_model": "fail-503"}),
            _provider("up", fake, {"name": "secondary", "upstream_model": "gpt-4o-mini"}),
            _provider("s500", fake, {"name": "streamy", "upstream_model": "fail-500",
                                     "order": 1}),
            _provider("sslow", fake, {"name": "streamy", "upstream_model": "slow", "order": 1},
                      timeout="300ms", headers={"x-fake-delay": "3"}),
            _provider("sgood", fake, {"name": "streamy", "upstream_model": "gpt-4o",
                                      "order": 2}),
            _provider("sbreak", fake, {"name": "breaking", "upstream_model": "break-midstream"}),
            _provider("sstall", fake, {"name": "stalling", "upstream_model": "stall"},
                      stream_stall_timeout="300ms", headers={"x-fake-delay": "3"}),
        ],
    })
    port = free_port()
    try:
        with gateway(config, port, tmp / "gateway.log"):
            yield f"http://127.0.0.1:{port}"
    finally:
        client = redis.Redis.from_url(redis_url)
        keys = list(client.scan_iter(match=f"{prefix}*", count=500))
        if keys:
            client.delete(*keys)
        client.close()


@pytest.fixture(scope="module")
def client(base_url: str) -> openai.OpenAI:
    return openai.OpenAI(base_url=f"{base_url}/v1", api_key=MASTER, max_retries=0)


def _states(base_url: str) -> dict[str, dict[str, Any]]:
    response = httpx.get(f"{base_url}/control/deployments", headers=ADMIN, timeout=10)
    assert response.status_code == 200, response.text
    return {row["id"]: row for row in response.json()["data"]}


def _upstream_models(fake: FakeServer) -> list[str]:
    return [r["body"]["model"] for r in fake.requests() if "body" in r]


def test_fallback_chain_serves_when_the_first_group_is_down(
        client: openai.OpenAI, base_url: str, fake_openai: FakeServer) -> None:
    raw = client.chat.completions.with_raw_response.create(model="primary", messages=MESSAGES)
    assert raw.headers["x-llmux-deployment"] == "up/secondary"
    assert raw.parse().choices[0].message.content == reply_text({"messages": MESSAGES})
    # two failures open the breaker (allowed_fails: 1), so the third attempt finds none left
    assert _upstream_models(fake_openai) == ["fail-500"] * 2 + ["gpt-4o-mini"]
    assert _states(base_url)["down/primary"]["state"] == "open"

    fake_openai.clear()  # the group is now entirely down: straight to the fallback
    raw = client.chat.completions.with_raw_response.create(model="primary", messages=MESSAGES)
    assert raw.headers["x-llmux-deployment"] == "up/secondary"
    assert _upstream_models(fake_openai) == ["gpt-4o-mini"]


def test_a_group_down_without_fallbacks_fails_fast_with_503(
        client: openai.OpenAI, fake_openai: FakeServer) -> None:
    with pytest.raises(openai.InternalServerError) as first:
        client.chat.completions.create(model="lonely", messages=MESSAGES)
    assert first.value.status_code == 503  # the upstream's own 503, after its retries
    fake_openai.clear()
    with pytest.raises(openai.InternalServerError) as caught:
        client.chat.completions.create(model="lonely", messages=MESSAGES)
    assert caught.value.status_code == 503
    assert caught.value.code == "no_deployment_available"
    assert 1 <= int(caught.value.response.headers["retry-after"]) <= 60
    assert _upstream_models(fake_openai) == []


def test_stream_failing_before_its_first_byte_is_served_elsewhere(
        client: openai.OpenAI) -> None:
    raw = client.chat.completions.with_raw_response.create(
        model="streamy", messages=MESSAGES, stream=True)
    assert raw.headers["x-llmux-deployment"] == "sgood/streamy"
    chunks: openai.Stream[ChatCompletionChunk] = raw.parse()
    text = "".join(chunk.choices[0].delta.content or "" for chunk in chunks if chunk.choices)
    assert text == reply_text({"messages": MESSAGES})


@pytest.mark.parametrize("model", ["breaking", "stalling"])
def test_stream_failing_after_its_first_byte_ends_with_an_error_event(
        client: openai.OpenAI, model: str) -> None:
    stream = client.chat.completions.create(model=model, messages=MESSAGES, stream=True)
    received: list[str] = []
    with pytest.raises(openai.APIError):
        for chunk in stream:
            received.append(chunk.choices[0].delta.content or "" if chunk.choices else "")
    assert "".join(received), "content reached the client before the upstream failed"


def test_control_endpoints_are_admin_only_and_validate(base_url: str) -> None:
    key, _ = create_key(base_url, MASTER)
    for method, path in (("GET", "/control/deployments"),
                         ("POST", "/control/deployments/cooldown")):
        response = httpx.request(method, f"{base_url}{path}", timeout=10,
                                 headers={"authorization": f"Bearer {key}"},
                                 json={"deployment": "up/secondary", "seconds": 5})
        assert response.status_code == 403
        assert response.json()["error"]["type"] == "permission_error"
        assert httpx.request(method, f"{base_url}{path}", timeout=10).status_code == 401

    def cooldown(body: Any) -> httpx.Response:
        return httpx.post(f"{base_url}/control/deployments/cooldown", headers=ADMIN, json=body,
                          timeout=10)

    unknown = cooldown({"deployment": "nope/nope", "seconds": 5})
    assert unknown.status_code == 404 and unknown.json()["error"]["param"] == "deployment"
    negative = cooldown({"deployment": "up/secondary", "seconds": -1})
    assert negative.status_code == 400 and negative.json()["error"]["param"] == "seconds"
    assert cooldown({"deployment": "up/secondary"}).status_code == 400
    listing = httpx.get(f"{base_url}/control/deployments", headers=ADMIN, timeout=10).json()
    assert listing["stats_backend"] == "redis" and listing["strategy"] == "simple-shuffle"
    assert listing["stale"] is False


def test_control_endpoints_move_to_the_admin_port(tmp_path: Path) -> None:
    port, admin_port = free_port(), free_port()
    config = write_config(tmp_path / "llmux.yaml", {
        "server": {"admin_port": admin_port},
        "deployment": {"mode": "standalone", "data_dir": str(tmp_path / "data")},
        "auth": {"master_key": MASTER},
        "providers": [{"name": "mock", "type": "mock", "models": ["mock-gpt"]}],
    })
    with gateway(config, port, tmp_path / "gateway.log"):
        admin = f"http://127.0.0.1:{admin_port}/control/deployments"
        listing = httpx.get(admin, headers=ADMIN, timeout=10)
        assert listing.status_code == 200 and listing.json()["stats_backend"] == "memory"
        assert [row["id"] for row in listing.json()["data"]] == ["mock/mock-gpt"]
        public = httpx.get(f"http://127.0.0.1:{port}/control/deployments", headers=ADMIN,
                           timeout=10)
        assert public.status_code == 404
