"""``LocalBus``: the standalone, in-process bus with JetStream's semantics, stored in SQLite.

Standalone mode runs ingress, ledger and projections in one process, so the bus is a SQLite table
(a file under the data dir, or memory for tests) plus an ``asyncio.Condition`` that wakes waiting
consumers when a publish commits. All SQLite work runs on one dedicated worker thread, so the
event loop never blocks on disk and the connection is never shared between threads.

Semantics kept from JetStream: sequence numbers, dedupe by message id (for as long as the message is
stored), durable consumers that resume after their last ack across restarts, redelivery of
fetched-but-unacked messages after ``ack_wait_s`` or to a new consumer object, and NATS wildcard
filters. One process owns a file at a time: a second process writing the same file would not wake
this one's consumers.
"""

from __future__ import annotations

import asyncio
import logging
import sqlite3
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import ParamSpec, TypeVar

from ledger.bus.base import Bus, BusMessage, BusUnavailable, Consumer, Delivery
from ledger.bus.sqlite_log import SqliteMessageLog, StoredMessage
from ledger.bus.subjects import SubjectFilter

__all__ = ["LocalBus"]

_log = logging.getLogger(__name__)

_P = ParamSpec("_P")
_T = TypeVar("_T")


class LocalBus(Bus):
    """In-process bus backed by SQLite; ``path=None`` keeps the stream in memory."""

    def __init__(
        self,
        path: str | None = None,
        *,
        ack_wait_s: float = 30.0,
        retain: Sequence[str] = (),
        prune_every_acks: int = 256,
        max_backlog: int | None = None,
        max_backlog_wait_s: float = 5.0,
    ) -> None:
        """Configure; nothing is opened before ``start()``.

        Args:
            path: SQLite file (durable), or ``None`` for memory.
            ack_wait_s: a fetched message not acked within this time is delivered again
                (JetStream's ``AckWait``).
            retain: subject filters never pruned, e.g. ``("llmux.admin.>",)`` so that
                ``follow(..., from_start=True)`` can replay every admin event.
            prune_every_acks: delete messages every durable consumer has acked after this many acks.
                An acked message is deduplicated only until it is pruned; the ledger records by
                event id, so a duplicate published later is still stored once.
            max_backlog: ``has_room()`` is False while this many messages or more are stored
                after the lowest ack floor of the durable consumers open on this bus (``None``:
                no bound). Standalone sets it so that a gateway serving faster than its ledger
                records slows down, instead of its backlog (and this file) growing for as long
                as the load lasts. Meant for durables on every subject, like the ledger's.
            max_backlog_wait_s: the longest ``wait_for_room`` holds a publisher. A ledger that
                has stopped making progress (its store locked or full) must not hang every
                response: past this the publisher goes on, and the backlog grows as it would
                without a bound.
        """
        # PERF: measured while event ids were random (each publish then dirtied about one msg_id
        # index page per message): pruning every 256 acks instead of 1,024 kept the index a
        # quarter as large, bus append 9.5-10.1 -> 8.0-8.4 µs per event at 2,000 events/s
        # (prune 1.8 -> 2.1; bench.pipeline --parts). Event ids are time-ordered since step 24,
        # so the index now grows at one end; the interval has not been re-measured since.
        self._path = path
        self._retain = tuple(retain)
        self.ack_wait_s = ack_wait_s
        self._prune_every_acks = prune_every_acks
        self._acks_since_prune = 0
        self._executor: ThreadPoolExecutor | None = None
        self._log: SqliteMessageLog | None = None
        self._last_seq = 0
        self._closed = False
        self._changed = asyncio.Condition()
        self._in_flight: dict[str, dict[int, float]] = {}
        self._max_backlog = max_backlog
        self._max_backlog_wait_s = max_backlog_wait_s
        self._ack_floors: dict[str, int] = {}
        """The ack floor of each durable with a consumer object open (its backlog lies above)."""
        self._open_objects: dict[str, int] = {}
        self._room = asyncio.Event()
        self._room.set()

    async def start(self) -> None:
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="llmux-localbus")
        try:
            self._log = await self._on_worker(SqliteMessageLog, self._path, self._retain)
        except BusUnavailable:
            self._executor.shutdown(wait=False)
            self._executor = None
            raise
        self._last_seq = await self._call(self._log.last_seq)

    async def publish(self, messages: Sequence[BusMessage]) -> None:
        if not messages:
            return
        last_seq = await self._call(self._open_log().append, messages)
        async with self._changed:
            if last_seq > self._last_seq:
                self._last_seq = last_seq
                self._changed.notify_all()

    async def consumer(self, durable: str, subject_filter: str) -> Consumer:
        SubjectFilter(subject_filter)
        floor = await self._call(self._open_log().open_consumer, durable, subject_filter)
        self._ack_floors[durable] = max(floor, self._ack_floors.get(durable, 0))
        self._open_objects[durable] = self._open_objects.get(durable, 0) + 1
        return _LocalConsumer(self, durable, subject_filter)

    async def follow(self, subject_filter: str, from_start: bool) -> Consumer:
        SubjectFilter(subject_filter)
        self._open_log()  # NOTE: raises unless started, so "only new" never means "from seq 0".
        return _LocalFollower(self, subject_filter, 0 if from_start else self._last_seq)

    def has_room(self) -> bool:
        return self._max_backlog is None or self.backlog < self._max_backlog

    async def wait_for_room(self) -> None:
        if self.has_room() or self._closed:
            return
        try:
            await asyncio.wait_for(self._until_room(), self._max_backlog_wait_s)
        except TimeoutError:
            _log.warning("local bus: the ledger is %d events behind and not catching up; "
                         "serving on without waiting for it", self.backlog)

    async def _until_room(self) -> None:
        while not self.has_room() and not self._closed:
            self._room.clear()
            await self._room.wait()

    async def aclose(self) -> None:
        if self._closed:
            return
        self._closed = True
        self._room.set()
        async with self._changed:
            self._changed.notify_all()
        if self._log is not None and self._executor is not None:
            await asyncio.get_running_loop().run_in_executor(self._executor, self._log.close)
        if self._executor is not None:
            self._executor.shutdown(wait=True)
        self._log = None

    @property
    def last_seq(self) -> int:
        """The highest sequence number stored so far."""
        return self._last_seq

    @property
    def max_backlog(self) -> int | None:
        """The backlog at which ``has_room()`` turns False (``None``: never)."""
        return self._max_backlog

    @property
    def backlog(self) -> int:
        """Messages stored after the lowest ack floor of the durables with a consumer object
        open on this bus: what the slowest of them has yet to process (or skip past).
        """
        if not self._ack_floors:
            return 0
        return max(0, self._last_seq - min(self._ack_floors.values()))

    def _open_log(self) -> SqliteMessageLog:
        """The open SQLite log (only for calls through ``_call``)."""
        if self._log is None:
            state = "closed" if self._closed else "not started"
            raise BusUnavailable(f"the local bus is {state}")
        return self._log

    async def _call(self, fn: Callable[_P, _T], *args: _P.args, **kwargs: _P.kwargs) -> _T:
        """Run ``fn`` on the worker thread; SQLite errors become ``BusUnavailable``."""
        if self._closed:
            raise BusUnavailable("the local bus is closed")
        return await self._on_worker(fn, *args, **kwargs)

    async def _on_worker(self, fn: Callable[_P, _T], *args: _P.args, **kwargs: _P.kwargs) -> _T:
        if self._executor is None:
            raise BusUnavailable("LocalBus.start() was not awaited")
        loop = asyncio.get_running_loop()
        try:
            return await loop.run_in_executor(self._executor, lambda: fn(*args, **kwargs))
        except sqlite3.Error as exc:
            raise BusUnavailable(f"local bus storage failed: {exc}") from exc

    async def _wait_for_news(self, seen_seq: int, timeout_s: float) -> None:
        """Return once a message after ``seen_seq`` is stored, the bus closes, or ``timeout_s``."""
        if timeout_s <= 0:
            return
        async with self._changed:
            try:
                await asyncio.wait_for(
                    self._changed.wait_for(lambda: self._last_seq > seen_seq or self._closed),
                    timeout_s,
                )
            except TimeoutError:
                return

    def _in_flight_of(self, durable: str) -> dict[int, float]:
        """The in-flight map (seq -> redelivery time) shared by every consumer of ``durable``."""
        return self._in_flight.setdefault(durable, {})

    def _move_floor(self, durable: str, floor: int) -> None:
        """``durable`` has nothing left to do up to ``floor``: wake publishers if room opened."""
        if durable in self._ack_floors:
            self._ack_floors[durable] = max(self._ack_floors[durable], floor)
        if self.has_room():
            self._room.set()

    def _closed_object(self, durable: str) -> None:
        """A consumer object of ``durable`` closed; with the last one, its backlog stops counting
        (a ledger job that ended must not hold every publisher back)."""
        left = self._open_objects.get(durable, 0) - 1
        if left > 0:
            self._open_objects[durable] = left
            return
        self._open_objects.pop(durable, None)
        self._ack_floors.pop(durable, None)
        self._room.set()

    async def _note_acked(self, durable: str, floor: int, count: int) -> None:
        """Record ``durable``'s new ack floor; prune the stream once ``prune_every_acks`` acks
        have accumulated."""
        self._move_floor(durable, floor)
        self._acks_since_prune += count
        if self._acks_since_prune >= self._prune_every_acks:
            self._acks_since_prune = 0
            await self._call(self._open_log().prune)


def _delivery(row: StoredMessage) -> Delivery:
    seq, subject, data, msg_id = row
    return Delivery(subject=subject, data=data, msg_id=msg_id, sequence=seq)


class _LocalConsumer(Consumer):
    """A durable consumer; its ack floor and acks live in SQLite, in-flight state in memory.

    In-flight messages are shared by every consumer object of the same durable (so two objects
    split the work, as JetStream pull subscribers do); closing an object releases its share.
    """

    def __init__(self, bus: LocalBus, name: str, subject_filter: str) -> None:
        self._bus = bus
        self._name = name
        self._filter = subject_filter
        self._in_flight = bus._in_flight_of(name)
        """seq -> loop time after which it may be delivered again (shared per durable)."""
        self._mine: set[int] = set()
        self._is_closed = False

    async def fetch(self, max_messages: int, timeout_s: float) -> list[Delivery]:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout_s
        while True:
            seen = self._bus.last_seq
            now = loop.time()
            skip = {seq for seq, due in self._in_flight.items() if due > now}
            found = await self._bus._call(
                self._bus._open_log().unacked, self._name, self._filter, max_messages, skip
            )
            busy = self._busy_now(loop.time())
            rows = [row for row in found if row[0] not in busy]
            if rows:
                return self._take(rows, loop.time())
            if found:
                continue  # another object of this durable took them meanwhile: look again
            if not self._in_flight:
                # NOTE: nothing of ours up to ``seen``: what lies below it does not match our
                # filter, and must not count as our backlog.
                self._bus._move_floor(self._name, seen)
            now = loop.time()
            if now >= deadline:
                return []
            next_due = min((due for due in self._in_flight.values() if due > now), default=deadline)
            await self._bus._wait_for_news(seen, max(min(deadline, next_due) - now, 0.001))

    def _take(self, rows: list[StoredMessage], now: float) -> list[Delivery]:
        due = now + self._bus.ack_wait_s
        for row in rows:
            self._in_flight[row[0]] = due
            self._mine.add(row[0])
        return [_delivery(row) for row in rows]

    def _busy_now(self, now: float) -> set[int]:
        # NOTE: another object of this durable may have taken messages while our query ran.
        return {seq for seq, due in self._in_flight.items() if due > now}

    async def ack(self, deliveries: Sequence[Delivery]) -> None:
        if not deliveries:
            return
        seqs = [d.sequence for d in deliveries]
        floor = await self._bus._call(self._bus._open_log().ack, self._name, self._filter, seqs)
        for seq in seqs:
            self._in_flight.pop(seq, None)
            self._mine.discard(seq)
        await self._bus._note_acked(self._name, floor, len(seqs))

    async def aclose(self) -> None:
        for seq in self._mine:
            self._in_flight.pop(seq, None)
        self._mine.clear()
        if not self._is_closed:
            self._is_closed = True
            self._bus._closed_object(self._name)


class _LocalFollower(Consumer):
    """A non-durable reader: sees every matching message after its start; ack is a no-op."""

    def __init__(self, bus: LocalBus, subject_filter: str, after_seq: int) -> None:
        self._bus = bus
        self._filter = subject_filter
        self._position = after_seq

    async def fetch(self, max_messages: int, timeout_s: float) -> list[Delivery]:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout_s
        while True:
            seen = self._bus.last_seq
            rows = await self._bus._call(
                self._bus._open_log().read_after, self._filter, self._position, max_messages
            )
            # PERF: with fewer rows than asked for, nothing else matched up to ``seen`` (stored
            # before the read): the next read starts there. A follower of rare subjects (the
            # admin feed) otherwise rescanned every message above its last match on each wake,
            # and every publish wakes it: standalone fell from 4,000 to 1,400 req/s in three
            # minutes as the scanned tail grew.
            if len(rows) < max_messages:
                self._position = max(self._position, seen)
            if rows:
                self._position = max(self._position, rows[-1][0])
                return [_delivery(row) for row in rows]
            remaining = deadline - loop.time()
            if remaining <= 0:
                return []
            await self._bus._wait_for_news(seen, remaining)

    async def ack(self, deliveries: Sequence[Delivery]) -> None:
        return None

    async def aclose(self) -> None:
        return None
