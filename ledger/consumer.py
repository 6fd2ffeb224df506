"""The ledger's bus consumer: fetch a batch, record it in one transaction, then ack.

Acking only after the batch is committed means a crash in between redelivers the batch, and the
ledger's idempotent recording stores none of it twice: nothing is lost and nothing is duplicated.
A message that is not a valid envelope is logged (with its digest, so it can be found on the bus)
and acked: it could never be recorded, and it must not stop the events behind it.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import logging
from collections.abc import Callable, Sequence

from ledger.application import LedgerApp, LedgerUnavailable
from ledger.background import CatchUpWorker
from ledger.bus.base import BusUnavailable, Consumer, Delivery
from schemas.events import EventEnvelope, decode_envelope

__all__ = ["LedgerConsumer"]

_log = logging.getLogger(__name__)

_Batch = tuple[list[Delivery], list[EventEnvelope]]

_RETRY_MIN_S = 0.1
_RETRY_MAX_S = 5.0
_LINGER_MIN_BATCH = 8
"""A batch at least this large means events arrive steadily: the next one may gather first."""


class LedgerConsumer:
    """Moves events from a durable bus consumer into the ledger, batch by batch.

    Args:
        app: the ledger to record into.
        consumer: a durable consumer of every event subject (``llmux.>``).
        batch_size: most messages recorded in one transaction.
        batch_wait_s: how long one fetch waits for messages, and how long ``run`` lets events
            gather under load.
        on_recorded: called (on the event loop) after a batch stored new events, e.g. to wake
            a projection runner instead of letting it wait for its next poll.
        yield_to_requests: record batches that keep up on a thread that runs only when the
            event loop is idle (``ledger.background``); set it when the gateway's requests
            share this process (standalone).
    """

    def __init__(
        self,
        app: LedgerApp,
        consumer: Consumer,
        *,
        batch_size: int = 500,
        batch_wait_s: float = 0.01,
        on_recorded: Callable[[], None] | None = None,
        yield_to_requests: bool = False,
    ) -> None:
        self._app = app
        self._consumer = consumer
        self._batch_size = batch_size
        self._batch_wait_s = batch_wait_s
        self._on_recorded = on_recorded
        self._pending: _Batch | None = None
        """A fetched batch not yet recorded and acked (retried before fetching more)."""
        # NOTE: one batch at a time: the library is synchronous and its writers serialize anyway.
        self._writer = CatchUpWorker("ledger-writer", polite=yield_to_requests)
        self.recorded = 0
        """Events newly stored by this consumer."""
        self.duplicates = 0
        """Valid envelopes that were already stored (redeliveries)."""
        self.rejected = 0
        """Messages that were not valid envelopes (logged and acked)."""
        self.waiting_for: str | None = None
        """Why the last batch could not be recorded or acked (retried): the bus or the store is
        unavailable. ``None`` while the consumer keeps up."""

    async def run_once(self) -> int:
        """Fetch one batch, record it, ack it; returns how many messages were handled (0: idle).

        A batch that could not be recorded or acked is kept and retried by the next call before
        anything new is fetched (the bus would hold it back until its ack wait expires).

        Raises:
            BusUnavailable: the bus cannot be read or acked now.
            LedgerUnavailable: the store cannot be written now (nothing was acked).
        """
        batch = self._pending or await self._fetch()
        if batch is None:
            return 0
        deliveries, envelopes = batch
        behind = len(deliveries) >= self._batch_size  # a full batch: more is waiting
        stored = await self._writer.run(self._app.record, envelopes, behind=behind)
        self._pending = (deliveries, [])  # recorded: only the ack is left to retry
        self.recorded += stored
        self.duplicates += len(envelopes) - stored
        if stored and self._on_recorded is not None:
            self._on_recorded()
        await self._consumer.ack(deliveries)
        self._pending = None
        return len(deliveries)

    async def run(self, stop: asyncio.Event) -> None:
        """Record batches until ``stop`` is set; an unavailable bus or store is retried.

        Under load (a batch of 8 events or more that was not full) the consumer waits
        ``batch_wait_s`` before fetching again, so a steady stream is recorded in batches of that
        many seconds' worth; a trickle of events is recorded as it comes.
        """
        delay_s = _RETRY_MIN_S
        while not stop.is_set():
            try:
                handled = await self.run_once()
                delay_s = _RETRY_MIN_S
                self.waiting_for = None
            except (BusUnavailable, LedgerUnavailable) as exc:
                self.waiting_for = str(exc)
                _log.warning("ledger consumer waiting: %s; retrying in %.1fs", exc, delay_s)
                await _wait(stop, delay_s)
                delay_s = min(delay_s * 2, _RETRY_MAX_S)
                continue
            if _LINGER_MIN_BATCH <= handled < self._batch_size:
                # PERF: the bus hands over whatever arrived, so under load the ledger recorded a
                # few events per transaction (13 at 2,000 events/s: 88 µs of CPU per event, and
                # each batch woke every projection). Under load (a batch of 8 or more), letting
                # the next batch gather for ``batch_wait_s`` cuts that to ~57 µs per event
                # (docs/performance.md, step 3). A trickle of events still goes through at once.
                # The default wait is 10 ms, not 50: a batch's work delays the requests in
                # flight beside it in standalone mode, in proportion to its size (steps 23, 25).
                await _wait(stop, self._batch_wait_s)

    async def lag(self) -> int | None:
        """Events on the bus this ledger has yet to record and ack (``None``: the bus cannot
        tell). A round trip to the bus: for metrics and probes.

        Raises:
            BusUnavailable: the bus cannot be reached.
        """
        return await self._consumer.pending()

    async def aclose(self) -> None:
        """Stop the writer thread (after the batch in progress) and close the bus consumer."""
        await asyncio.get_running_loop().run_in_executor(None, self._writer.shutdown)
        await self._consumer.aclose()

    async def _fetch(self) -> _Batch | None:
        deliveries = await self._consumer.fetch(self._batch_size, self._batch_wait_s)
        if not deliveries:
            return None
        self._pending = (deliveries, self._decode(deliveries))
        return self._pending

    def _decode(self, deliveries: Sequence[Delivery]) -> list[EventEnvelope]:
        envelopes = []
        for delivery in deliveries:
            try:
                envelopes.append(decode_envelope(delivery.data))
            except ValueError:
                self._reject(delivery)
        return envelopes

    def _reject(self, delivery: Delivery) -> None:
        self.rejected += 1
        _log.error(
            "ledger rejected a message that is not an event envelope",
            extra={
                "subject": delivery.subject,
                "msg_id": delivery.msg_id,
                "sequence": delivery.sequence,
                "size": len(delivery.data),
                "sha256": hashlib.sha256(delivery.data).hexdigest(),
            },
        )


async def _wait(stop: asyncio.Event, timeout_s: float) -> None:
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(stop.wait(), timeout_s)
