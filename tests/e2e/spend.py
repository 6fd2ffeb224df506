"""Helpers for end-to-end spend checks: send traffic with the SDK, read ``/spend/keys``."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import httpx
import openai


@dataclass
class Totals:
    requests: int = 0
    prompt_tokens: int = 0
    completion_tokens: int = 0

    def add(self, usage: Any) -> None:
        self.requests += 1
        self.prompt_tokens += usage.prompt_tokens
        self.completion_tokens += usage.completion_tokens


def create_key(base_url: str, master_key: str, **fields: Any) -> tuple[str, str]:
    """A new virtual key: (raw key, key id)."""
    response = httpx.post(f"{base_url}/key/generate", json=fields,
                          headers={"authorization": f"Bearer {master_key}"}, timeout=10)
    response.raise_for_status()
    created = response.json()
    return created["key"], created["token_id"]


def send_requests(base_url: str, api_key: str, count: int, totals: Totals,
                  model: str = "mock-gpt") -> None:
    """``count`` calls, every other one streamed; adds the usage each reply reported."""
    client = openai.OpenAI(base_url=f"{base_url}/v1", api_key=api_key, max_retries=0)
    for index in range(count):
        messages = [{"role": "user", "content": f"request number {index} " + "word " * index}]
        if index % 2:
            chunks = client.chat.completions.create(
                model=model, messages=messages, stream=True,
                stream_options={"include_usage": True})
            usage = [c.usage for c in chunks if c.usage is not None][-1]
        else:
            usage = client.chat.completions.create(model=model, messages=messages).usage
        totals.add(usage)


def spend_rows(base_url: str, master_key: str) -> list[dict[str, Any]]:
    response = httpx.get(f"{base_url}/spend/keys",
                         headers={"authorization": f"Bearer {master_key}"}, timeout=10)
    response.raise_for_status()
    rows: list[dict[str, Any]] = response.json()
    return rows


def spend_totals(rows: list[dict[str, Any]], key_id: str | None = None) -> Totals:
    totals = Totals()
    for row in rows:
        if key_id is None or row["key_id"] == key_id:
            totals.requests += row["requests"]
            totals.prompt_tokens += row["prompt_tokens"]
            totals.completion_tokens += row["completion_tokens"]
    return totals
