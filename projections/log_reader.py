"""The ledger's notification log, read once for several projection runners.

Every projection reads the same events: woken together after a ledger batch, the runners would
each select and decode the same rows. ``SharedLogReader`` keeps the most recent window of decoded
``(position, envelope)`` pairs, so the first runner reads a range from the store and the others are
served from memory. Runners behind the window (a rebuild, a runner that was down) read from the
store as before, so a read always returns exactly what ``LedgerApp.read_envelopes`` would (with
``through``, at least the events up to there).

# PERF: decoding a notification into an envelope costs ~17 µs; with four projections that was 68
# of the 78 µs of projection CPU per event at 2,000 events/s (docs/performance.md, step 4).

When the ledger app records in this process (standalone mode), the reader also takes each batch
right after its commit (``LedgerApp.add_listener``): if it directly follows the window, it is
appended as if read. A runner woken after a batch needs the events up to ``recorded_through()``
(taken when it was woken): passed as ``through``, the memory serves them without a store read.
# PERF: after every ledger batch the first runner read and decoded the new events and the three
# others each made one more (empty) store read: 7.5-10 µs per event at 2,000 events/s, ~360 reads
# in bench.pipeline's 5 s run. Taking the batches as they are recorded leaves no store read.
"""

from __future__ import annotations

import bisect
import threading
from collections.abc import Sequence
from operator import itemgetter

from ledger import LedgerApp
from schemas.events import EventEnvelope

__all__ = ["SharedLogReader"]

Entry = tuple[int, EventEnvelope]


class SharedLogReader:
    """``read_envelopes`` for several runners (each in its own thread) of one ledger.

    Args:
        app: the ledger to read.
        window: most decoded events kept in memory.
    """

    def __init__(self, app: LedgerApp, *, window: int = 4096) -> None:
        self._app = app
        self._window = window
        self._lock = threading.Lock()
        self._entries: list[Entry] = []
        self._complete_from = 0
        """Every event at or after this position (up to the last entry) is in ``_entries``."""
        self._recorded_through: int | None = None
        """Position of the last event the app told of recording (``None``: none yet)."""
        app.add_listener(self._note_recorded)

    def recorded_through(self) -> int | None:
        """Position of the last event this process's ledger app recorded (``None``: none yet)."""
        return self._recorded_through

    def read_envelopes(
        self, start_position: int, limit: int, *, through: int | None = None
    ) -> list[Entry]:
        """Up to ``limit`` ``(position, envelope)`` pairs with ``position >= start_position``.

        Args:
            through: the caller needs only the events up to this position (a
                ``recorded_through()`` taken when it was woken): if the memory holds every event
                from ``start_position`` to there, the store is not asked for later ones.
                ``None``: everything recorded before this call.
        """
        with self._lock:
            if not self._covers(start_position):
                entries = self._app.read_envelopes(start_position, limit)
                self._reset(start_position, entries)
                return entries
            found = self._slice(start_position, limit)
            held = through is not None and self._next_position() > through
            if len(found) < limit and not held:
                more = self._app.read_envelopes(self._next_position(), limit - len(found))
                found += more
                self._extend(more)
            return found

    def _note_recorded(self, entries: Sequence[Entry]) -> None:
        """Append a batch the app just committed if it directly follows the window.

        # NOTE: the batch's first position being the window's next one proves nothing was
        # recorded in between (positions grow with every insert). A batch that does not follow,
        # or arrives while a runner holds the window (the ledger's writer never waits on a
        # reader), is left to the next store read.
        """
        if not entries:
            return
        first, last = entries[0][0], entries[-1][0]
        self._recorded_through = max(self._recorded_through or 0, last)
        if not self._lock.acquire(blocking=False):
            return
        try:
            if first == self._next_position() and last - first == len(entries) - 1:
                self._extend(entries)
        finally:
            self._lock.release()

    def _next_position(self) -> int:
        """The first position after the window."""
        return self._entries[-1][0] + 1 if self._entries else self._complete_from

    def _covers(self, position: int) -> bool:
        return self._complete_from <= position <= self._next_position()

    def _slice(self, start_position: int, limit: int) -> list[Entry]:
        index = bisect.bisect_left(self._entries, start_position, key=itemgetter(0))
        return self._entries[index:index + limit]

    def _reset(self, start_position: int, entries: list[Entry]) -> None:
        self._entries = list(entries)
        self._complete_from = start_position
        self._trim()

    def _extend(self, entries: Sequence[Entry]) -> None:
        self._entries.extend(entries)
        self._trim()

    def _trim(self) -> None:
        excess = len(self._entries) - self._window
        if excess > 0:
            del self._entries[:excess]
            self._complete_from = self._entries[0][0]
