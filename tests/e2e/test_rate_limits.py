"""Rate limits end to end on two distributed instances, and what happens while Redis is down.

Real gateway processes on the real NATS, Postgres and Redis (this test's own database, stream and
key prefix); the outage test runs a ``redis-server`` of its own so it can stop it.
"""

from __future__ import annotations

import asyncio
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import openai
import pytest
import redis

from tests.e2e.processes import free_port, gateway, wait_until, write_config
from tests.e2e.spend import create_key
from tests.e2e.test_budgets import (
    ADMIN,
    MASTER,
    MESSAGES,
    MODEL,
    distributed,
    distributed_services,  # noqa: F401 -- fixture
    providers,
    wait_for_key,
)

pytestmark = pytest.mark.services

R = 5
CALLS = 12


def _away_from_a_window_edge() -> None:
    """Wait for the next 60 s rate window when this one ends within 3 s (one burst, one window)."""
    left = 60 - time.time() % 60
    if left < 3:
        time.sleep(left + 0.05)


async def _burst(urls: list[str], key: str) -> list[Any]:
    clients = [openai.AsyncOpenAI(base_url=f"{url}/v1", api_key=key, max_retries=0)
               for url in urls]

    async def one(index: int) -> Any:
        client = clients[index % len(clients)]
        return await client.chat.completions.with_raw_response.create(
            model=MODEL, messages=MESSAGES, max_tokens=10)  # type: ignore[arg-type]

    try:
        return await asyncio.gather(*(one(i) for i in range(CALLS)), return_exceptions=True)
    finally:
        for client in clients:
            await client.close()


def test_an_rpm_limit_allows_exactly_r_across_two_instances(
        tmp_path: Path, distributed_services: dict[str, Any]) -> None:  # noqa: F811
    tree = {**distributed_services, "providers": providers()}
    with distributed(tmp_path, tree, workers=False) as urls:
        key, key_id = create_key(urls[0], MASTER, rpm_limit=R)
        wait_for_key(urls, key_id)
        _away_from_a_window_edge()
        results = asyncio.run(_burst(urls, key))
    served = [r for r in results if not isinstance(r, BaseException)]
    refused = [r for r in results if isinstance(r, BaseException)]
    assert len(served) == R
    remaining = sorted(int(r.headers["x-ratelimit-remaining-requests"]) for r in served)
    assert remaining == list(range(R))  # one shared counter: each instance saw the other's
    assert all(r.headers["x-ratelimit-limit-requests"] == str(R) for r in served)
    for error in refused:
        assert isinstance(error, openai.RateLimitError), repr(error)
        assert error.code == "rate_limit_exceeded"
        headers = error.response.headers
        assert 1 <= int(headers["retry-after"]) <= 60
        assert headers["x-ratelimit-remaining-requests"] == "0"
        assert headers["x-ratelimit-reset-requests"].endswith("s")


@pytest.fixture
def own_redis(tmp_path: Path) -> Iterator[dict[str, Any]]:
    """A redis-server of this test's own, so it can be stopped without touching the shared one."""
    port = free_port()
    args = ["redis-server", "--port", str(port), "--bind", "127.0.0.1", "--save", "",
            "--appendonly", "no", "--dir", str(tmp_path)]
    state: dict[str, Any] = {"url": f"redis://127.0.0.1:{port}/0", "args": args}
    state["process"] = subprocess.Popen(args, stdout=subprocess.DEVNULL)
    wait_until(lambda: _pings(state["url"]), timeout_s=10, interval_s=0.05)
    yield state
    state["process"].kill()
    state["process"].wait(10)


def _pings(url: str) -> bool:
    client = redis.Redis.from_url(url, socket_connect_timeout=0.5)
    try:
        return bool(client.ping())
    except redis.RedisError:
        return False
    finally:
        client.close()


def _ready(url: str) -> tuple[int, str]:
    response = httpx.get(f"{url}/health/ready", timeout=10)
    return response.status_code, response.json()["checks"]["admission"]


def _chat(url: str, key: str) -> httpx.Response:
    return httpx.post(f"{url}/v1/chat/completions", headers={"authorization": f"Bearer {key}"},
                      json={"model": MODEL, "messages": MESSAGES, "max_tokens": 10}, timeout=30)


def test_redis_down_applies_the_policy_and_readiness_shows_it(
        tmp_path: Path, distributed_services: dict[str, Any],  # noqa: F811
        own_redis: dict[str, Any]) -> None:
    base = {**distributed_services, "providers": providers(),
            "redis": {**distributed_services["redis"], "url": own_redis["url"]}}
    configs = {policy: write_config(tmp_path / f"{policy}.yaml",
                                    {**base, "admission": {"failure_policy": policy}})
               for policy in ("closed", "open")}
    ports = {policy: free_port() for policy in configs}
    urls = {policy: f"http://127.0.0.1:{port}" for policy, port in ports.items()}
    with gateway(configs["closed"], ports["closed"], tmp_path / "closed.log"), \
            gateway(configs["open"], ports["open"], tmp_path / "open.log"):
        key, key_id = create_key(urls["closed"], MASTER, rpm_limit=100)
        wait_for_key(list(urls.values()), key_id)
        assert _ready(urls["closed"]) == (200, "ok") and _ready(urls["open"]) == (200, "ok")

        own_redis["process"].kill()
        own_redis["process"].wait(10)
        assert _ready(urls["closed"]) == (503, "fail_closed")
        assert _ready(urls["open"]) == (200, "fail_open")
        refused = _chat(urls["closed"], key)
        assert refused.status_code == 503, refused.text
        assert refused.json()["error"]["type"] == "service_unavailable_error"
        served = _chat(urls["open"], key)
        assert served.status_code == 200, served.text
        assert served.headers["x-ratelimit-remaining-requests"] == "99"  # local counters
        metrics = httpx.get(f"{urls['closed']}/metrics", timeout=10).text
        assert 'llmux_admission_degraded{failure_policy="closed"} 1.0' in metrics

        own_redis["process"] = subprocess.Popen(own_redis["args"], stdout=subprocess.DEVNULL)
        for url in urls.values():
            wait_until(lambda u=url: _ready(u) == (200, "ok"), timeout_s=15, interval_s=0.1)
        wait_until(lambda: _chat(urls["closed"], key).status_code == 200, timeout_s=10)
        assert httpx.get(f"{urls['open']}/health/ready", headers=ADMIN, timeout=10).json()[
            "status"] == "ready"
