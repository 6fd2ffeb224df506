"""Keeping the control state current on every instance: bootstrap, then follow admin events.

At startup the state is loaded from the control projection, then EVERY admin event still on the
bus is replayed on top, in order, before the gateway serves (``from_start=True``: the standalone
bus retains admin events, JetStream keeps the stream). Because each event carries the whole entity
after the change, replaying events the projection already applied is harmless, and events the
projector had not reached yet (or that the ledger had not even stored) are not missed. After that a
background task applies each new admin event as it arrives, so a change made on any instance is
in force here within a second.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from typing import Protocol

from ingress.control.state import ControlState
from ledger import Bus, BusUnavailable, Consumer, Delivery
from schemas.errors import ServiceUnavailable
from schemas.events import EntityState, decode_envelope

__all__ = ["AdminFeed", "ControlSource"]

_log = logging.getLogger("llmux.control")

_FETCH_MAX = 500
_FOLLOW_WAIT_S = 0.5
_CATCH_UP_WAIT_S = 0.05
_CATCH_UP_LIMIT_S = 60.0
_RETRY_S = 1.0


class ControlSource(Protocol):
    """The control read model (``projections.SpendQueries.control_entities``)."""

    async def control_entities(self) -> list[EntityState]: ...


class AdminFeed:
    """Loads ``state`` and keeps it current from ``<subject_prefix>.admin.>`` on ``bus``."""

    def __init__(self, state: ControlState, bus: Bus, subject_prefix: str,
                 source: ControlSource) -> None:
        self._state = state
        self._bus = bus
        self._subject = f"{subject_prefix}.admin.>"
        self._source = source
        self._consumer: Consumer | None = None
        self._task: asyncio.Task[None] | None = None
        self._stopping = False
        self.applied = 0
        """Admin events applied from the bus so far (startup replay included)."""

    async def start(self) -> None:
        """Load the snapshot, replay the bus's admin events, then follow new ones in the background.

        Raises:
            BusUnavailable: the bus cannot be read (the gateway cannot know the current keys).
        """
        try:
            self._state.load(await self._source.control_entities())
        except ServiceUnavailable as exc:
            # NOTE: the bus replay below still brings every retained admin event.
            _log.warning("control read model unavailable at startup: %s", exc)
        self._consumer = await self._bus.follow(self._subject, from_start=True)
        await self._catch_up(self._consumer)
        self._task = asyncio.create_task(self._follow(self._consumer), name="admin-feed")

    async def aclose(self) -> None:
        self._stopping = True
        if self._task is not None:
            # NOTE: on Python 3.11 a cancel can be swallowed by the bus's internal wait_for;
            # the loop also checks ``_stopping`` after every fetch, so it ends either way.
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError, TimeoutError):
                await asyncio.wait_for(asyncio.shield(self._task), _FOLLOW_WAIT_S * 4)
            self._task = None
        if self._consumer is not None:
            with contextlib.suppress(BusUnavailable):
                await self._consumer.aclose()  # NOTE: deletes the ephemeral NATS consumer now
            self._consumer = None

    async def _catch_up(self, consumer: Consumer) -> None:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + _CATCH_UP_LIMIT_S
        while loop.time() < deadline:
            if not self._apply(await consumer.fetch(_FETCH_MAX, _CATCH_UP_WAIT_S)):
                return
        _log.warning("admin event replay still running after %ss; continuing in the background",
                     _CATCH_UP_LIMIT_S)

    async def _follow(self, consumer: Consumer) -> None:
        while not self._stopping:
            try:
                deliveries = await consumer.fetch(_FETCH_MAX, _FOLLOW_WAIT_S)
            except BusUnavailable as exc:
                _log.warning("admin event feed unavailable; retrying: %s", exc)
                await asyncio.sleep(_RETRY_S)
                continue
            self._apply(deliveries)

    def _apply(self, deliveries: list[Delivery]) -> int:
        for delivery in deliveries:
            try:
                envelope = decode_envelope(delivery.data)
            except ValueError:
                _log.warning("ignored an undecodable message on %s", delivery.subject)
                continue
            if self._state.apply(envelope):
                self.applied += 1
        return len(deliveries)
