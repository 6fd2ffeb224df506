"""Keeps one projection up to date by polling the ledger's notification log.

SQLite cannot push notifications, and polling is cheap and fine for Postgres too: every
``poll_interval_s`` (or as soon as :meth:`ProjectionRunner.wake` is called) the runner reads the
events after the view's stored position, in batches, and applies each batch in one transaction with
the new position. The position is read from the view before every batch, so a restarted runner (or
a rebuild in another process) continues exactly where the stored state is.

A runner that is woken (standalone mode: the ledger in the same process wakes every runner after
each batch it records) relies on the wakes and polls only every ``_WOKEN_POLL_S`` as a safety net.
# PERF: each poll is a position query and a ledger read per runner, nearly always empty when the
# ledger wakes the runners anyway: at 2,000 events/s the 50 ms polls of four runners cost ~7 µs of
# CPU per event (bench.pipeline), and 80 queries/s when idle.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Iterable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from ledger import LedgerApp, LedgerUnavailable
from projections.base import Projection
from projections.log_reader import SharedLogReader
from projections.stores import ProjectionConflict, StoreUnavailable, Tracking

__all__ = ["ProjectionRunner"]

_log = logging.getLogger(__name__)

_RETRY_MAX_S = 5.0
_WOKEN_POLL_S = 1.0
"""Longest idle wait of a runner that has been woken: polling is then only a safety net."""


class ProjectionRunner:
    """Feeds ``projection`` from ``app``'s notification log.

    Args:
        app: the ledger to read.
        projection: the projection (with its view) to keep current.
        batch_size: most events applied in one transaction.
        poll_interval_s: longest wait between two looks at the log while idle (at least
            ``_WOKEN_POLL_S`` once :meth:`wake` was called: the waker says when to look).
        log: where events are read; ``app`` itself by default (``sharing_reads`` passes one
            ``SharedLogReader`` to several runners; after a wake they read from its memory).
    """

    def __init__(
        self,
        app: LedgerApp,
        projection: Projection[Any],
        *,
        batch_size: int = 1000,
        poll_interval_s: float = 0.05,
        log: SharedLogReader | None = None,
    ) -> None:
        self._app = app
        self._reader = log
        self.projection = projection
        self._batch_size = batch_size
        self._poll_interval_s = poll_interval_s
        self._wakeup = asyncio.Event()
        self._woken = False
        """Whether ``wake`` was ever called: then something announces new events."""
        self._wake_through: int | None = None
        """``log.recorded_through()`` at the last wake: what a pass it starts must read."""
        self.applied_through: int | None = None
        """The last position applied, as of the last pass (``None`` before the first)."""
        self.waiting_for: str | None = None
        """Why the last pass failed (the ledger or the view's store is unavailable; retried).
        ``None`` while passes succeed."""
        # NOTE: the projection's own thread: its store connection is used by one thread only.
        self._worker = ThreadPoolExecutor(
            max_workers=1, thread_name_prefix=f"projection-{projection.name}"
        )

    @classmethod
    def sharing_reads(cls, app: LedgerApp, projections: Iterable[Projection[Any]]
                      ) -> list[ProjectionRunner]:
        """One runner per projection, all reading ``app`` through one ``SharedLogReader``."""
        log = SharedLogReader(app)
        return [cls(app, projection, log=log) for projection in projections]

    def run_until_caught_up(self) -> int:
        """Apply every event recorded so far (blocking); returns how many events were read."""
        return self._catch_up(None)

    def _catch_up(self, through: int | None) -> int:
        """``run_until_caught_up``; with a position, only up to it for sure (see ``wake``)."""
        processed = 0
        while True:
            count = self._process_next_batch(through)
            processed += count
            if count < self._batch_size:
                return processed

    def rebuild(self) -> int:
        """Drop the view's rows and position, then replay the whole log (blocking).

        Returns:
            How many events were replayed.
        """
        self.projection.view.reset()
        return self.run_until_caught_up()

    def wake(self) -> None:
        """Look at the log now instead of at the next poll (call it on the runner's event loop).

        From the first call on, the runner expects to be woken whenever events are recorded and
        polls only every ``_WOKEN_POLL_S``. With a ``SharedLogReader``, the pass reads the events
        up to what the ledger app had recorded at the wake, usually from the reader's memory.
        """
        self._woken = True
        if self._reader is not None:
            self._wake_through = self._reader.recorded_through()
        self._wakeup.set()

    async def run(self, stop: asyncio.Event) -> None:
        """Keep the projection current until ``stop`` is set; an unavailable store is retried."""
        loop = asyncio.get_running_loop()
        stopped = asyncio.ensure_future(stop.wait())
        retry_s = self._poll_interval_s
        woken = False
        try:
            while not stop.is_set():
                self._wakeup.clear()
                # NOTE: a pass after a poll, a conflict or a failure asks the store itself.
                through = self._wake_through if woken else None
                woken = False
                try:
                    await loop.run_in_executor(self._worker, self._catch_up, through)
                    self.waiting_for = None
                    retry_s = self._poll_interval_s
                    idle_s = max(retry_s, _WOKEN_POLL_S) if self._woken else retry_s
                except ProjectionConflict as exc:
                    _log.info("projection %s moved by another runner: %s",
                              self.projection.name, exc)
                    continue
                except (LedgerUnavailable, StoreUnavailable) as exc:
                    self.waiting_for = str(exc)
                    _log.warning("projection %s waiting: %s", self.projection.name, exc)
                    retry_s = idle_s = min(max(retry_s * 2, 0.1), _RETRY_MAX_S)
                woken = await self._idle(stopped, idle_s)
        finally:
            await _cancel(stopped)

    async def aclose(self) -> None:
        """Stop the worker thread (after the batch in progress) and close the view's store."""
        loop = asyncio.get_running_loop()
        await loop.run_in_executor(None, self._worker.shutdown)
        self.projection.view.close()

    async def _idle(self, stopped: asyncio.Future[Any], timeout_s: float) -> bool:
        """Wait for ``stopped``, a wake, or ``timeout_s``; returns whether it was a wake."""
        if self._wakeup.is_set():  # woken during the pass
            return True
        woken = asyncio.ensure_future(self._wakeup.wait())
        try:
            await asyncio.wait((stopped, woken), timeout=timeout_s,
                               return_when=asyncio.FIRST_COMPLETED)
        finally:
            await _cancel(woken)
        return self._wakeup.is_set()

    def _process_next_batch(self, through: int | None) -> int:
        previous = self.projection.view.position()
        if self._reader is None:
            events = self._app.read_envelopes(previous + 1, self._batch_size)
        else:
            events = self._reader.read_envelopes(previous + 1, self._batch_size, through=through)
        if events:
            tracking = Tracking(self.projection.name, previous, events[-1][0])
            self.projection.process_batch(events, tracking)
        self.applied_through = events[-1][0] if events else previous
        return len(events)


async def _cancel(waiter: asyncio.Future[Any]) -> None:
    waiter.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await waiter
