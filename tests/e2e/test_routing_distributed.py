"""Two ``llmux serve`` processes in distributed mode sharing live routing stats through Redis.

Each test starts its own pair of gateways on the real NATS, Postgres and Redis (its own stream,
database and Redis key prefix). Which deployment served a call is read from the
``x-llmux-deployment`` response header; what each instance believes from ``/control/deployments``.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import httpx
import pytest
from redis.asyncio import Redis

from tests.e2e.processes import LLMuxProcess, free_port, wait_until, write_config
from tests.e2e.switchable_upstream import SwitchableUpstream
from tests.fakes.fixtures import FakeServer

pytestmark = pytest.mark.services

MASTER = "sk-master-routing"
ADMIN = {"authorization": f"Bearer {MASTER}"}
MESSAGES = [{"role": "user", "content": "route me"}]


@pytest.fixture
async def redis_prefix(redis_url: str, namespace: str) -> AsyncIterator[str]:
    prefix = f"{namespace}:"
    yield prefix
    client = Redis.from_url(redis_url)
    try:
        keys = [key async for key in client.scan_iter(match=f"{prefix}*", count=500)]
        if keys:
            await client.delete(*keys)
    finally:
        await client.aclose()


@pytest.fixture
def services(tmp_path: Path, namespace: str, postgres_database: str, nats_url: str,
             redis_url: str, redis_prefix: str) -> dict[str, Any]:
    """Config sections that put one test's gateways on the shared services, isolated."""
    return {
        "deployment": {"mode": "distributed", "data_dir": str(tmp_path / "data")},
        "auth": {"master_key": MASTER, "hash_secret": "test-hash-secret"},
        "nats": {"url": nats_url, "stream": namespace.upper(), "subject_prefix": namespace},
        "database": {"url": postgres_database},
        "redis": {"url": redis_url, "key_prefix": redis_prefix},
    }


@contextlib.contextmanager
def gateways(tmp_path: Path, tree: dict[str, Any], count: int = 2) -> Iterator[list[str]]:
    """``count`` gateways on one config, started side by side; yields their base URLs."""
    config = write_config(tmp_path / "llmux.yaml", tree)
    ports = [free_port() for _ in range(count)]
    processes = [
        LLMuxProcess(["serve", "--config", str(config), "--port", str(port)],
                     tmp_path / f"gateway-{index}.log").start()
        for index, port in enumerate(ports)
    ]
    try:
        for process, port in zip(processes, ports, strict=True):
            process.wait_http(f"http://127.0.0.1:{port}/health/ready")
        yield [f"http://127.0.0.1:{port}" for port in ports]
    finally:
        for process in processes:
            process.stop()


def chat(base_url: str, model: str, **headers: str) -> str:
    """One chat call; the id of the deployment that served it."""
    response = httpx.post(f"{base_url}/v1/chat/completions", headers={**ADMIN, **headers},
                          json={"model": model, "messages": MESSAGES}, timeout=30)
    assert response.status_code == 200, response.text
    return response.headers["x-llmux-deployment"]


def deployments(base_url: str) -> dict[str, dict[str, Any]]:
    response = httpx.get(f"{base_url}/control/deployments", headers=ADMIN, timeout=10)
    assert response.status_code == 200, response.text
    return {row["id"]: row for row in response.json()["data"]}


def state_of(base_url: str, deployment: str) -> str:
    return str(deployments(base_url)[deployment]["state"])


def idle(base_url: str) -> bool:
    """No call in flight anywhere, as ``base_url``'s instance sees it."""
    return all(row["in_flight"] == 0 for row in deployments(base_url).values())


def openai_provider(name: str, base_url: str, model: str, upstream: str,
                    **fields: Any) -> dict[str, Any]:
    entry = {"name": model, "upstream_model": upstream, **fields.pop("entry", {})}
    return {"name": name, "type": "openai", "api_key": f"sk-{name}", "base_url": base_url,
            "models": [entry], **fields}


def test_round_robin_rotates_globally_and_cooldowns_hold_on_both(
        tmp_path: Path, services: dict[str, Any], fake_openai: FakeServer) -> None:
    fake = fake_openai.base_url
    tree = {**services, "routing": {"strategy": "round-robin", "retry_backoff": 0},
            "providers": [openai_provider(n, fake, "shared", "gpt-4o-mini")
                          for n in ("d3", "d1", "d2")]}
    with gateways(tmp_path, tree) as (a, b):
        served = [chat(url, "shared") for url in (a, b, a, b, a, b)]
        assert served == ["d1/shared", "d2/shared", "d3/shared"] * 2

        response = httpx.post(f"{a}/control/deployments/cooldown", headers=ADMIN, timeout=10,
                              json={"deployment": "d2/shared", "seconds": 60, "reason": "drill"})
        assert response.status_code == 200, response.text
        assert response.json()["state"] == "open"
        assert response.json()["cooldown_reason"] == "set by an admin: drill"
        wait_until(lambda: state_of(b, "d2/shared") == "open", timeout_s=5, interval_s=0.05)
        assert "d2/shared" not in {chat(url, "shared") for url in (b, a, b, a)}

        cleared = httpx.delete(f"{b}/control/deployments/cooldown", headers=ADMIN, timeout=10,
                               params={"deployment": "d2/shared"})
        assert cleared.status_code == 200 and cleared.json()["state"] == "closed"
        wait_until(lambda: state_of(a, "d2/shared") == "closed", timeout_s=5, interval_s=0.05)
        assert {chat(url, "shared") for url in (a, a, b)} == {"d1/shared", "d2/shared",
                                                              "d3/shared"}
        # d1 served calls 1 and 4, two of four while d2 was out, and one of the last three;
        # both instances count all five (sliding health window, shared through Redis)
        for url in (a, b):
            wait_until(lambda u=url: deployments(u)["d1/shared"]["successes"] == 5, timeout_s=2,
                       interval_s=0.05)
        assert deployments(a)["d1/shared"]["success_rate"] == 1.0


def test_least_busy_sees_the_other_instances_calls_in_flight(
        tmp_path: Path, services: dict[str, Any], fake_openai: FakeServer) -> None:
    slow = {"headers": {"x-fake-mode": "slow", "x-fake-delay": "1.5"}}
    tree = {**services, "routing": {"strategy": "least-busy", "retry_count": 0},
            "providers": [openai_provider(n, fake_openai.base_url, "busy", "gpt-4o-mini", **slow)
                          for n in ("s1", "s2")]}
    with gateways(tmp_path, tree) as (a, b), ThreadPoolExecutor(2) as pool:
        for first, second in ((a, b), (b, a)):
            wait_until(lambda: idle(a) and idle(b), timeout_s=5, interval_s=0.05)
            running = pool.submit(chat, first, "busy")

            def busy_on_second(seen_by: str = second) -> list[str]:
                return [d for d, row in deployments(seen_by).items() if row["in_flight"] == 1]

            busy = wait_until(busy_on_second, timeout_s=5, interval_s=0.05)
            assert len(busy) == 1
            assert chat(second, "busy") != busy[0], "the other instance's call counts"
            assert running.result(timeout=30) == busy[0]


def test_failing_deployment_is_cooled_down_everywhere_and_returns_after_a_probe(
        tmp_path: Path, services: dict[str, Any], fake_openai: FakeServer) -> None:
    with SwitchableUpstream() as flaky:
        routing = {"retry_count": 1, "retry_backoff": 0, "allowed_fails": 1,
                   "failure_ratio": 0.5, "cooldown": "3s"}
        tree = {**services, "routing": routing, "providers": [
            openai_provider("flaky", flaky.base_url, "chat", "gpt-4o-mini", entry={"order": 1}),
            openai_provider("steady", fake_openai.base_url, "chat", "gpt-4o-mini",
                            entry={"order": 2}),
        ]}
        with gateways(tmp_path, tree) as (a, b):
            assert {chat(url, "chat") for url in (a, b)} == {"flaky/chat"}

            flaky.failing = True
            for url in (a, b, a, b):  # each call fails on flaky, then is served by steady
                assert chat(url, "chat") == "steady/chat"
                if state_of(url, "flaky/chat") == "open":
                    break
            wait_until(lambda: {state_of(u, "flaky/chat") for u in (a, b)} == {"open"},
                       timeout_s=2, interval_s=0.05)
            calls = flaky.chat_calls
            assert {chat(url, "chat") for url in (a, b, a, b)} == {"steady/chat"}
            assert flaky.chat_calls == calls, "no traffic reaches a deployment cooling down"

            flaky.failing = False
            wait_until(lambda: state_of(b, "flaky/chat") == "half_open", timeout_s=10,
                       interval_s=0.1)
            assert chat(b, "chat") == "flaky/chat"  # the probe
            wait_until(lambda: {state_of(u, "flaky/chat") for u in (a, b)} == {"closed"},
                       timeout_s=2, interval_s=0.05)
            assert {chat(url, "chat") for url in (a, b)} == {"flaky/chat"}
