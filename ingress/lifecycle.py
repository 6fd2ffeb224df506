"""Start and stop with the ASGI lifespan: background work, the key registry, the demo key.

On startup the runtime starts (bus, outbox; in standalone mode also the ledger and projector), the
key registry is filled from the key registry projection, and then kept current by following admin
events on the bus, so a key created on any instance works here within a second.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from typing import Any

from ingress.auth import Caller, KeyRegistry
from ingress.keys import KeyService
from ingress.runtime import Runtime
from ingress.secrets import GatewaySecrets
from ledger import BusUnavailable, Consumer
from projections import KeyRecord
from router_engine import Router, warm_tokenizers
from schemas.errors import AuthenticationFailed
from schemas.events import KeyCreated, decode_envelope, decode_payload
from schemas.management import KeyGenerateRequest

__all__ = ["Lifecycle"]

_log = logging.getLogger("llmux.ingress")


class Lifecycle:
    """Falcon middleware that only implements the lifespan hooks."""

    def __init__(self, runtime: Runtime, registry: KeyRegistry, keys: KeyService, router: Router,
                 secrets: GatewaySecrets) -> None:
        self._runtime = runtime
        self._registry = registry
        self._keys = keys
        self._router = router
        self._secrets = secrets
        self._stop = asyncio.Event()
        self._follower: asyncio.Task[None] | None = None
        self._admin_events: Consumer | None = None

    async def process_startup(self, scope: dict[str, Any], event: dict[str, Any]) -> None:
        self._stop = asyncio.Event()
        # NOTE: load the tokenizers now, or the first request pays ~0.5 s for them.
        await asyncio.to_thread(warm_tokenizers)
        await self._runtime.start()
        self._admin_events = await self._runtime.bus.follow(
            f"{self._runtime.subject_prefix}.admin.>", from_start=False
        )
        self._registry.load(await self._runtime.queries.keys())
        self._follower = asyncio.create_task(
            self._follow(self._admin_events), name="admin-follower"
        )
        self._ensure_demo_key()
        _log.info("gateway started", extra={"keys": len(self._registry)})

    async def process_shutdown(self, scope: dict[str, Any], event: dict[str, Any]) -> None:
        self._stop.set()
        if self._follower is not None:
            self._follower.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._follower
        if self._admin_events is not None:
            with contextlib.suppress(BusUnavailable):
                await self._admin_events.aclose()  # NOTE: deletes the ephemeral NATS consumer now
        await self._router.aclose()
        await self._runtime.aclose()

    def _ensure_demo_key(self) -> None:
        demo_key = self._secrets.demo_key
        if demo_key is None:
            return
        try:
            self._registry.authenticate(demo_key)
        except AuthenticationFailed:  # first start: the demo key does not exist yet
            request = KeyGenerateRequest(key_alias="demo")
            self._keys.generate(Caller(is_admin=True), request, source_ip=None, request_id=None,
                                raw_key=demo_key)

    async def _follow(self, consumer: Consumer) -> None:
        while not self._stop.is_set():
            try:
                deliveries = await consumer.fetch(100, 0.5)
            except Exception:
                _log.warning("admin event feed unavailable; retrying")
                await asyncio.sleep(1.0)
                continue
            for delivery in deliveries:
                self._apply(delivery.data)
            if deliveries:
                await consumer.ack(deliveries)

    def _apply(self, data: bytes) -> None:
        try:
            envelope = decode_envelope(data)
            payload = decode_payload(envelope)
        except ValueError:
            return
        if isinstance(payload, KeyCreated):
            self._registry.add(KeyRecord.from_event(payload, envelope.occurred_at))
