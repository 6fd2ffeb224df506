"""An in-process standalone gateway (``create_app`` under its ASGI lifespan) to call."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import falcon.testing
import msgspec
import pytest

from ingress.app import create_app
from ledger import open_ledger
from schemas.config import LLMuxConfig
from schemas.events import AdminChange, EventEnvelope, decode_payload

MASTER = "sk-master-control-tests"
MODELS = ["mock-gpt", "mock-mini", "mock-large"]


def gateway_config(data_dir: Path, **server: Any) -> LLMuxConfig:
    return msgspec.convert({
        "deployment": {"mode": "standalone", "data_dir": str(data_dir)},
        "auth": {"master_key": MASTER},
        "server": server,
        "logging": {"level": "warning"},
        "providers": [{"name": "mock", "type": "mock", "models": MODELS}],
    }, LLMuxConfig)


class Gateway:
    """Calls to the app; every call names the key it sends (the master key by default)."""

    def __init__(self, conductor: falcon.testing.ASGIConductor, data_dir: Path) -> None:
        self.conductor = conductor
        self.data_dir = data_dir

    async def call(self, method: str, path: str, key: str = MASTER, *,
                   json: Any = None, params: dict[str, str] | None = None
                   ) -> tuple[int, Any]:
        result = await self.conductor.simulate_request(
            method, path, json=json, params=params,
            headers={"authorization": f"Bearer {key}", "x-request-id": f"req-{path}"})
        return result.status_code, result.json if result.content else None

    async def ok(self, method: str, path: str, key: str = MASTER, **kwargs: Any) -> Any:
        status, body = await self.call(method, path, key, **kwargs)
        assert status == 200, (method, path, status, body)
        return body

    async def chat(self, key: str, model: str = "mock-gpt", **extra: Any) -> tuple[int, Any]:
        body = {"model": model, "messages": [{"role": "user", "content": "hi"}], **extra}
        return await self.call("POST", "/v1/chat/completions", key, json=body)

    async def admin_events(self, minimum: int) -> list[tuple[EventEnvelope, AdminChange]]:
        """Admin events in the ledger (the event store), once at least ``minimum`` are there."""
        found: list[tuple[EventEnvelope, AdminChange]] = []
        for _ in range(250):
            envelopes = await asyncio.to_thread(self._ledger_envelopes)
            found = [(e, p) for e in envelopes if isinstance(p := decode_payload(e), AdminChange)]
            if len(found) >= minimum:
                return found
            await asyncio.sleep(0.02)
        raise AssertionError(f"only {len(found)} admin events in the ledger, wanted {minimum}")

    def _ledger_envelopes(self) -> list[EventEnvelope]:
        app = open_ledger(sqlite_path=str(self.data_dir / "ledger.db"))
        try:
            return [envelope for _, envelope in app.read_envelopes(1, 100_000)]
        finally:
            app.close()


@pytest.fixture
async def gateway(tmp_path: Path) -> AsyncIterator[Gateway]:
    app = create_app(gateway_config(tmp_path / "data"))
    async with falcon.testing.ASGIConductor(app) as conductor:
        yield Gateway(conductor, tmp_path / "data")
