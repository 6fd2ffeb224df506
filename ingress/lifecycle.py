"""Start and stop with the ASGI lifespan: background work, the control state, the admin port.

On startup the runtime starts (bus, outbox; in standalone mode also the ledger and projector),
then the control state is loaded from the control projection and every admin event on the bus is
replayed on top of it; a background task keeps applying new admin events, so a key created,
blocked or deleted on any instance is in force here within a second. Then the budget counters are
seeded with the spend already recorded in their windows (``BudgetSeeder``), the admin port (when
configured) starts listening, and the standalone demo key is created if it does not exist yet.
"""

from __future__ import annotations

import asyncio
import logging
from datetime import UTC, datetime
from typing import Any

from ingress.admission_gate import AdmissionGate
from ingress.auth import Caller
from ingress.budget_seeding import BudgetSeeder
from ingress.control.changes import ChangeContext
from ingress.control.feed import AdminFeed
from ingress.control.keys import KeyManagement
from ingress.listener import Listener
from ingress.runtime import Runtime
from ingress.secrets import GatewaySecrets
from ingress.startup import StartupError
from ledger import BusUnavailable
from router_engine import Router, warm_tokenizers
from schemas.management import KeyGenerateRequest

__all__ = ["Lifecycle"]

_log = logging.getLogger("llmux.ingress")


class Lifecycle:
    """Falcon middleware that only implements the lifespan hooks."""

    def __init__(self, runtime: Runtime, feed: AdminFeed, keys: KeyManagement, router: Router,
                 secrets: GatewaySecrets, admin_listener: Listener | None = None,
                 seeder: BudgetSeeder | None = None, gate: AdmissionGate | None = None) -> None:
        self._runtime = runtime
        self._seeder = seeder
        self._gate = gate
        self._feed = feed
        self._keys = keys
        self._router = router
        self._secrets = secrets
        self._admin_listener = admin_listener

    async def process_startup(self, scope: dict[str, Any], event: dict[str, Any]) -> None:
        # NOTE: load the tokenizers now, or the first request pays ~0.5 s for them.
        await asyncio.to_thread(warm_tokenizers)
        await self._runtime.start()
        try:
            await self._feed.start()
        except BusUnavailable as exc:
            raise StartupError(f"cannot read admin events: {exc}") from None
        if self._seeder is not None:
            await self._seeder.start()
        if self._admin_listener is not None:
            await self._admin_listener.start()
        self._ensure_demo_key()
        _log.info("gateway started", extra={"keys": self._keys.count()})

    async def process_shutdown(self, scope: dict[str, Any], event: dict[str, Any]) -> None:
        if self._admin_listener is not None:
            await self._admin_listener.aclose()
        await self._feed.aclose()
        if self._seeder is not None:
            await self._seeder.aclose()
        if self._gate is not None:
            await self._gate.aclose()
        await self._router.aclose()
        await self._runtime.aclose()

    def _ensure_demo_key(self) -> None:
        demo_key = self._secrets.demo_key
        if demo_key is None or self._keys.has_key(demo_key):
            return
        context = ChangeContext(caller=Caller.master(), source_ip=None, request_id=None,
                                now=datetime.now(UTC))
        self._keys.generate(context, KeyGenerateRequest(key_alias="demo"), raw_key=demo_key)
