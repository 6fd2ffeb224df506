"""Hard budgets end to end: real gateway processes, the official openai SDK, 100 concurrent calls.

The model is priced explicitly (100 and 200 USD per million input and output tokens) and every
call asks for ``max_tokens`` = 10 with a prompt long enough that the mock answers with exactly 10
tokens, so a call's reservation equals its actual cost ``R``, which a probe call measures. A key
whose budget is ``N * R`` must get exactly N successes out of 100 concurrent calls; every other
call gets a 429 ``insufficient_quota`` that the SDK does not retry (its default ``max_retries``
stays on, and every HTTP attempt is counted).
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import httpx
import openai
import pytest
import redis

from schemas.money import format_usd, usd_to_micros
from tests.e2e.processes import LLMuxProcess, free_port, gateway, wait_until, write_config
from tests.e2e.spend import create_key, spend_rows

MASTER = "sk-master-budgets"
ADMIN = {"authorization": f"Bearer {MASTER}"}
MODEL = "priced"
MAX_TOKENS = 10
MESSAGES = [{"role": "user", "content": "word " * 30}]
N = 5
CALLS = 100


def providers() -> list[dict[str, Any]]:
    return [{"name": "mock", "type": "mock", "mock": {"latency": "100ms", "stream_chunks": 3},
             "models": [{"name": MODEL, "input_cost_per_mtok": 100,
                         "output_cost_per_mtok": 200}]}]


def probe_cost(base_url: str) -> int:
    """What one call costs, measured with the master key (which has no budget)."""
    client = openai.OpenAI(base_url=f"{base_url}/v1", api_key=MASTER)
    raw = client.chat.completions.with_raw_response.create(
        model=MODEL, messages=MESSAGES, max_tokens=MAX_TOKENS)  # type: ignore[arg-type]
    usage = raw.parse().usage
    assert usage is not None and usage.completion_tokens == MAX_TOKENS
    cost = usd_to_micros(Decimal(raw.headers["x-llmux-cost-usd"]))
    assert cost == usage.prompt_tokens * 100 + usage.completion_tokens * 200
    return cost


class Burst:
    """Concurrent SDK calls spread over gateways, with every HTTP attempt counted."""

    def __init__(self, base_urls: list[str], api_key: str) -> None:
        self.attempts = 0
        self._clients = [openai.AsyncOpenAI(
            base_url=f"{url}/v1", api_key=api_key,  # NOTE: default max_retries (2) kept on
            http_client=httpx.AsyncClient(timeout=60, limits=httpx.Limits(max_connections=200),
                                          event_hooks={"request": [self._count]}),
        ) for url in base_urls]

    async def _count(self, request: httpx.Request) -> None:
        self.attempts += 1

    async def call(self, index: int) -> None:
        client = self._clients[index % len(self._clients)]
        if index % 4 == 3:
            stream = await client.chat.completions.create(
                model=MODEL, messages=MESSAGES, max_tokens=MAX_TOKENS,  # type: ignore[arg-type]
                stream=True, stream_options={"include_usage": True})
            async for _ in stream:
                pass
        else:
            await client.chat.completions.create(
                model=MODEL, messages=MESSAGES, max_tokens=MAX_TOKENS)  # type: ignore[arg-type]

    async def run(self, count: int) -> tuple[int, list[BaseException]]:
        try:
            results = await asyncio.gather(*(self.call(i) for i in range(count)),
                                           return_exceptions=True)
        finally:
            for client in self._clients:
                await client.close()
        errors = [r for r in results if isinstance(r, BaseException)]
        return count - len(errors), errors


def assert_quota_errors(errors: list[BaseException]) -> None:
    for error in errors:
        assert isinstance(error, openai.RateLimitError), repr(error)
        assert error.code == "insufficient_quota" and error.type == "insufficient_quota"
        assert error.response.headers["x-should-retry"] == "false"


def key_spend(base_url: str, key_id: str, requests: int) -> dict[str, int]:
    """The key's recorded spend once the projection counts ``requests`` calls."""
    def counted() -> dict[str, int] | None:
        rows = [r for r in spend_rows(base_url, MASTER) if r["key_id"] == key_id]
        total = {"requests": sum(r["requests"] for r in rows),
                 "cost_micros": sum(r["cost_micros"] for r in rows)}
        return total if total["requests"] >= requests else None

    found: dict[str, int] = wait_until(counted, timeout_s=30)
    return found


def refusal_metric(base_url: str) -> float:
    text = httpx.get(f"{base_url}/metrics", timeout=10).text
    for line in text.splitlines():
        if line.startswith('llmux_admission_refusals_total{limit="budget"}'):
            return float(line.split()[-1])
    return 0.0


def test_standalone_budget_admits_exactly_n_of_100_and_survives_a_restart(
        tmp_path: Path) -> None:
    config = write_config(tmp_path / "llmux.yaml", {
        "deployment": {"mode": "standalone", "data_dir": str(tmp_path / "data")},
        "auth": {"master_key": MASTER}, "providers": providers()})
    port = free_port()
    base_url = f"http://127.0.0.1:{port}"
    with gateway(config, port, tmp_path / "gateway.log"):
        cost = probe_cost(base_url)
        key, key_id = create_key(base_url, MASTER, max_budget=format_usd(N * cost))
        burst = Burst([base_url], key)
        admitted, errors = asyncio.run(burst.run(CALLS))
        assert admitted == N
        assert_quota_errors(errors)
        assert burst.attempts == CALLS  # no refusal was retried
        assert refusal_metric(base_url) == CALLS - N
        ready = httpx.get(f"{base_url}/health/ready", timeout=10).json()
        assert ready["checks"]["admission"] == "ok"
        # NOTE: stopped at once: the last usage events may not be projected yet; the restarted
        # gateway must count them before it serves (its gateway.started barrier).

    with gateway(config, port, tmp_path / "gateway2.log"):
        again = Burst([base_url], key)
        admitted, errors = asyncio.run(again.run(1))
        assert admitted == 0 and again.attempts == 1  # still exhausted after the restart
        assert_quota_errors(errors)
        assert key_spend(base_url, key_id, N) == {"requests": N, "cost_micros": N * cost}


@pytest.fixture
def distributed_services(tmp_path: Path, namespace: str, postgres_database: str, nats_url: str,
                         redis_url: str) -> Iterator[dict[str, Any]]:
    """Config sections that put one test's processes on the shared services, isolated (its own
    database, stream, subject prefix and Redis key prefix); its Redis keys are removed after."""
    prefix = f"{namespace}:"
    yield {
        "deployment": {"mode": "distributed", "data_dir": str(tmp_path / "data")},
        "auth": {"master_key": MASTER, "hash_secret": "test-hash-secret"},
        "nats": {"url": nats_url, "stream": namespace.upper(), "subject_prefix": namespace},
        "database": {"url": postgres_database},
        "redis": {"url": redis_url, "key_prefix": prefix},
    }
    client = redis.Redis.from_url(redis_url)
    try:
        for pattern in (f"{prefix}*", f"{{{prefix}admission}}*"):
            keys = list(client.scan_iter(match=pattern, count=500))
            if keys:
                client.delete(*keys)
    finally:
        client.close()


@contextlib.contextmanager
def distributed(tmp_path: Path, tree: dict[str, Any], gateways: int = 2,
                workers: bool = True) -> Iterator[list[str]]:
    """Ledger and projector (when ``workers``), then ``gateways`` instances on one config."""
    config = write_config(tmp_path / "llmux.yaml", tree)
    names = ["ledger", "projector"] if workers else []
    processes = [LLMuxProcess([name, "--config", str(config)], tmp_path / f"{name}.log").start()
                 for name in names]
    ports = [free_port() for _ in range(gateways)]
    with contextlib.ExitStack() as stack:
        try:
            for index, port in enumerate(ports):
                stack.enter_context(gateway(config, port, tmp_path / f"gateway-{index}.log"))
            yield [f"http://127.0.0.1:{port}" for port in ports]
        finally:
            stack.close()
            for process in processes:
                process.stop()


def wait_for_key(base_urls: list[str], key_id: str) -> None:
    """Every instance knows the key (admin events reach them through NATS)."""
    for url in base_urls:
        wait_until(lambda u=url: httpx.get(f"{u}/key/info", params={"key": key_id},
                                           headers=ADMIN, timeout=5).status_code == 200,
                   timeout_s=10, interval_s=0.05)


@pytest.mark.services
def test_two_instances_admit_exactly_n_of_100_together(
        tmp_path: Path, distributed_services: dict[str, Any]) -> None:
    tree = {**distributed_services, "providers": providers()}
    with distributed(tmp_path, tree) as urls:
        cost = probe_cost(urls[0])
        key, key_id = create_key(urls[0], MASTER, max_budget=format_usd(N * cost))
        wait_for_key(urls, key_id)
        burst = Burst(urls, key)
        admitted, errors = asyncio.run(burst.run(CALLS))
        assert admitted == N
        assert_quota_errors(errors)
        assert burst.attempts == CALLS
        assert key_spend(urls[0], key_id, N) == {"requests": N, "cost_micros": N * cost}
        assert sum(refusal_metric(url) for url in urls) == CALLS - N
