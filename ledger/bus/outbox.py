"""``Outbox``: the hot path's hand-off to the bus, which never drops an event.

The request path calls ``publish_nowait`` (an append to a deque: no await, no I/O). One background
task sends the queue to the bus in batches. When the bus is unavailable, batches go to an
append-only spill file on local disk (fsync per batch) instead, and the task drains that file
oldest-first with capped exponential backoff until the bus takes everything, then empties it. A
spill file left by a previous process is drained after ``start()``.

While the spill file holds anything ("spill mode"), new events are appended to it too, so events
reach the bus in the order they were handed over. When memory holds ``max_events`` the task moves
them to the spill file as well; ``publish`` waits only when memory and spill are both full.

Loss window: the only events that can be lost are those still in memory (not yet acknowledged by
the bus, not yet fsynced to the spill file) when the process is killed without ``aclose()``
(SIGKILL, OOM kill, power loss) — normally a few milliseconds' worth.
"""

from __future__ import annotations

import asyncio
import logging
from collections import deque
from collections.abc import Sequence

from ledger.bus.base import Bus, BusMessage, BusUnavailable
from ledger.bus.spill import SpillQueue
from schemas.events import EventEnvelope, encode_envelope

__all__ = ["Outbox"]

_log = logging.getLogger(__name__)

_SPILL_CHUNK = 4096
"""Messages per spill write (one fsync each)."""

_BLOCKED_LOG_INTERVAL_S = 10.0


class Outbox:
    """Bounded, batching, spilling publisher in front of a ``Bus``."""

    def __init__(
        self,
        bus: Bus,
        spill_path: str,
        *,
        subject_prefix: str = "llmux",
        max_events: int = 100_000,
        spill_max_bytes: int = 1 << 30,
        batch_size: int = 256,
        flush_interval_s: float = 0.005,
        retry_initial_s: float = 0.05,
        retry_max_s: float = 2.0,
        close_timeout_s: float = 10.0,
    ) -> None:
        """Configure; nothing runs before ``start()``.

        Args:
            bus: where events go; ``BusUnavailable`` from it means "spill and retry later".
            spill_path: the spill file (created with its directories when first needed).
            subject_prefix: subject = ``<prefix>.<envelope.type>``.
            max_events: events held in memory; past it the request path waits for the bus
                (``wait_for_room``) while it works, or they move to the spill file while it
                does not.
            spill_max_bytes: spill file size past which ``publish`` waits (``aclose`` still
                spills past it rather than drop anything).
            batch_size: messages per ``bus.publish`` call.
            flush_interval_s: how long a partial batch waits for company.
            retry_initial_s: first pause after the bus failed; doubles up to ``retry_max_s``.
            close_timeout_s: how long ``aclose`` keeps draining to a working bus before it leaves
                the rest in the spill file for the next start.
        """
        self._bus = bus
        self._prefix = subject_prefix
        self._max_events = max_events
        self._spill_max_bytes = spill_max_bytes
        self._batch_size = batch_size
        self._flush_interval_s = flush_interval_s
        self._retry_initial_s = retry_initial_s
        self._retry_max_s = retry_max_s
        self._close_timeout_s = close_timeout_s
        self._queue: deque[BusMessage] = deque()
        self._wakeup = asyncio.Event()
        self._room = asyncio.Event()
        self._spill = SpillQueue(spill_path)
        self._task: asyncio.Task[None] | None = None
        self._retry_s = retry_initial_s
        self._retry_at = 0.0
        self._close_by: float | None = None
        self._gave_up = False
        self._closed = False
        self._published_total = 0
        self._spilled_total = 0
        self._blocked_total = 0
        self._failures_total = 0
        self._blocked_logged_at = float("-inf")

    # -- counters (read by the metrics endpoint) -------------------------------------------------

    @property
    def pending(self) -> int:
        """Events in memory, not yet published or spilled."""
        return len(self._queue)

    @property
    def published_total(self) -> int:
        """Events the bus acknowledged (including those drained from the spill file)."""
        return self._published_total

    @property
    def spilled_total(self) -> int:
        """Events written to the spill file."""
        return self._spilled_total

    @property
    def spill_bytes(self) -> int:
        """Current size of the spill file (0 when the bus keeps up)."""
        return self._spill.size

    @property
    def blocked_total(self) -> int:
        """Publishes and requests that had to wait: memory (and spill) full, or the bus's
        consumers too far behind."""
        return self._blocked_total

    @property
    def bus_backlog(self) -> int | None:
        """Events on the bus not yet processed by its slowest durable consumer, if known."""
        return self._bus.backlog

    @property
    def publish_failures_total(self) -> int:
        """Batches the bus refused (each one was spilled or kept, never dropped)."""
        return self._failures_total

    # -- lifecycle ---------------------------------------------------------------------------------

    async def start(self) -> None:
        """Open the spill file (draining what a previous process left) and start the sender."""
        await self._spill.open()
        if self._spill.size:
            _log.warning(
                "outbox: draining %d bytes left in %s by a previous run",
                self._spill.size,
                self._spill.path,
            )
        self._task = asyncio.create_task(self._run(), name="llmux-outbox")

    async def aclose(self) -> None:
        """Send what is left to the bus or, if it is down, to the spill file; then stop."""
        if self._closed:
            return
        self._closed = True
        self._close_by = asyncio.get_running_loop().time() + self._close_timeout_s
        self._wakeup.set()
        self._room.set()
        if self._task is not None:
            await self._task
        if self._queue:
            _log.error("outbox: %d events could not be saved at shutdown", len(self._queue))
        await self._spill.close()

    # -- the hot path ------------------------------------------------------------------------------

    def publish_nowait(self, envelope: EventEnvelope) -> None:
        """Queue ``envelope``; never waits, never drops (memory may exceed ``max_events``)."""
        if self._closed:
            raise RuntimeError("the outbox is closed")
        self._queue.append(
            BusMessage(
                subject=f"{self._prefix}.{envelope.type}",
                data=encode_envelope(envelope),
                msg_id=str(envelope.id),
            )
        )
        if not self._wakeup.is_set():
            self._wakeup.set()

    async def publish(self, envelope: EventEnvelope) -> None:
        """Queue ``envelope``, first waiting while memory and spill are both full."""
        if self._is_full():
            self._blocked_total += 1
            self._log_blocked(f"memory ({len(self._queue)} events) and spill "
                              f"({self._spill.size} bytes) are full")
            while self._is_full() and not self._closed:
                self._room.clear()
                await self._room.wait()
        self.publish_nowait(envelope)

    async def wait_for_room(self) -> None:
        """Backpressure: return once fewer than ``max_events`` wait in memory.

        The request path calls this after publishing, so a bus that is up but slower than the
        traffic slows the responses down to what it can take, instead of the backlog growing
        without bound. While the bus is down the queue goes to the spill file and nothing waits
        here (until the spill file is full too). A bus whose consumers lag too far behind
        (``Bus.has_room``: the standalone ledger) holds the request path back the same way.
        """
        if self._closed or (len(self._queue) < self._max_events and self._bus.has_room()):
            return
        self._blocked_total += 1
        self._log_blocked(f"memory holds {len(self._queue)} events"
                          if len(self._queue) >= self._max_events
                          else "the bus's consumers are too far behind")
        while len(self._queue) >= self._max_events and not self._closed:
            self._room.clear()
            await self._room.wait()
        if not self._closed:
            await self._bus.wait_for_room()

    def _log_blocked(self, why: str) -> None:
        now = asyncio.get_running_loop().time()
        if now - self._blocked_logged_at < _BLOCKED_LOG_INTERVAL_S:
            return
        self._blocked_logged_at = now
        _log.warning("outbox: %s; delaying responses (%d delayed so far)", why, self._blocked_total)

    def _is_full(self) -> bool:
        return len(self._queue) >= self._max_events and self._spill.size >= self._spill_max_bytes

    # -- the sender task ---------------------------------------------------------------------------

    async def _run(self) -> None:
        while not self._finished():
            try:
                if self._spill.size:
                    await self._spill_mode_step()
                elif self._queue:
                    await self._memory_step()
                else:
                    await self._sleep(None)
            except Exception:
                # NOTE: a bug here must not stop the sender (events would pile up unseen); the
                # events involved were put back or are still in the spill file.
                self._failures_total += 1
                _log.exception("outbox: sender step failed; retrying")
                await asyncio.sleep(self._backoff())

    def _finished(self) -> bool:
        if not self._closed:
            return False
        return self._gave_up or (not self._queue and not self._spill.size)

    async def _memory_step(self) -> None:
        if not self._closed and len(self._queue) < self._batch_size:
            await asyncio.sleep(self._flush_interval_s)
        # NOTE: a full memory queue is not a reason to spill: a bus that answers but cannot keep
        # up would then put every later event through the spill file, which never empties while
        # events keep coming (measured: 1 GB in 2.5 min at 4,800 req/s, then memory without
        # bound). Only a failed send spills; a slow bus holds publishers back (wait_for_room).
        batch = self._take(self._batch_size)
        if await self._send(batch):
            self._retry_s = self._retry_initial_s
            self._room.set()
            return
        self._queue.extendleft(reversed(batch))
        await self._spill_memory()
        if not self._spill.size:  # the spill file refused too: keep them in memory, wait
            await asyncio.sleep(self._backoff())

    async def _spill_mode_step(self) -> None:
        await self._spill_memory()
        loop = asyncio.get_running_loop()
        if self._closed:
            if self._close_by is not None and loop.time() >= self._close_by:
                self._gave_up = True
                return
        elif loop.time() < self._retry_at:
            if not self._queue or self._spill.size >= self._spill_max_bytes:
                await self._sleep(self._retry_at - loop.time())
            return
        if not await self._drain_once():
            self._gave_up = self._closed
            self._retry_at = loop.time() + self._backoff()

    async def _drain_once(self) -> bool:
        """Publish the oldest spilled batch; empty the file once all of it is published."""
        messages = await self._spill.oldest(self._batch_size)
        if messages and not await self._send(messages):
            return False
        if await self._spill.published():
            _log.warning("outbox: the bus is back; spill file %s drained", self._spill.path)
            self._room.set()
        self._retry_s = self._retry_initial_s
        return True

    async def _spill_memory(self) -> None:
        """Move memory to the spill file (past its size limit only while closing)."""
        while self._queue and (self._closed or self._spill.size < self._spill_max_bytes):
            chunk = self._take(_SPILL_CHUNK)
            was_empty = not self._spill.size
            try:
                await self._spill.append(chunk)
            except OSError as exc:
                self._queue.extendleft(reversed(chunk))
                _log.error("outbox: cannot write spill file %s: %s", self._spill.path, exc)
                self._gave_up = self._closed
                if not self._closed:
                    await asyncio.sleep(self._backoff())
                return
            if was_empty:
                _log.warning("outbox: bus unavailable; spilling to %s", self._spill.path)
            self._spilled_total += len(chunk)
            self._room.set()

    async def _send(self, messages: Sequence[BusMessage]) -> bool:
        try:
            await self._bus.publish(messages)
        except BusUnavailable as exc:
            self._failures_total += 1
            _log.debug("outbox: bus unavailable: %s", exc)
            return False
        except Exception:
            # NOTE: a bus that breaks its contract still must not cost us the batch.
            self._failures_total += 1
            _log.exception("outbox: bus.publish failed unexpectedly; keeping the batch")
            return False
        self._published_total += len(messages)
        return True

    def _take(self, limit: int) -> list[BusMessage]:
        queue = self._queue
        return [queue.popleft() for _ in range(min(limit, len(queue)))]

    def _backoff(self) -> float:
        delay = self._retry_s
        self._retry_s = min(self._retry_s * 2, self._retry_max_s)
        return delay

    async def _sleep(self, timeout_s: float | None) -> None:
        """Wait for ``timeout_s`` (``None``: forever) or until an event arrives or close starts.

        Callers check their condition with no ``await`` before this, so no wakeup is lost.
        """
        self._wakeup.clear()
        if self._closed:
            return
        try:
            await asyncio.wait_for(self._wakeup.wait(), timeout_s)
        except TimeoutError:
            return
