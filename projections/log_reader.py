"""The ledger's notification log, read once for several projection runners.

Every projection reads the same events: woken together after a ledger batch, the runners would
each select and decode the same rows. ``SharedLogReader`` keeps the most recent window of decoded
``(position, envelope)`` pairs, so the first runner reads a range from the store and the others are
served from memory. Runners behind the window (a rebuild, a runner that was down) read from the
store as before, so a read always returns exactly what ``LedgerApp.read_envelopes`` would.

# PERF: decoding a notification into an envelope costs ~17 µs; with four projections that was 68
# of the 78 µs of projection CPU per event at 2,000 events/s (docs/performance.md, step 4).

Runners woken together after a ledger batch need only the events recorded before the wake: a
caller passing ``fresh_after=mark()`` (taken when it was woken) is served from memory alone once a
store read begun after that mark found the end of the log, instead of asking the store again.
# PERF: after every ledger batch the first runner read the new events and the three others each
# made one more (empty) store read: 270 of the ~360 reads in bench.pipeline's 5 s run, ~75 µs each.
"""

from __future__ import annotations

import bisect
import threading

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
        self._positions: list[int] = []
        self._complete_from = 0
        """Every event at or after this position (up to the last entry) is in ``_entries``."""
        self._reads_begun = 0
        """Store reads begun so far: the clock of :meth:`mark`."""
        self._end_found_by = 0
        """The store read (counted from 1) that found the log ending at the window's end; 0 if
        the window's end is not known to be the log's end."""

    def mark(self) -> int:
        """Now, for ``read_envelopes(..., fresh_after=...)``: how many store reads have begun."""
        return self._reads_begun

    def read_envelopes(
        self, start_position: int, limit: int, *, fresh_after: int | None = None
    ) -> list[Entry]:
        """Up to ``limit`` ``(position, envelope)`` pairs with ``position >= start_position``.

        Args:
            fresh_after: a :meth:`mark`, when only the events recorded before that mark was taken
                are needed: no store read is made if one begun since found the end of the log.
                ``None``: everything recorded before this call (the store is asked).
        """
        with self._lock:
            if not self._covers(start_position):
                entries = self._read(start_position, limit)
                self._reset(start_position, entries)
                return entries
            found = self._slice(start_position, limit)
            fresh = fresh_after is not None and self._end_found_by > fresh_after
            if len(found) < limit and not fresh:
                after = self._positions[-1] + 1 if self._positions else start_position
                more = self._read(after, limit - len(found))
                found += more
                self._extend(more)
            return found

    def _read(self, start_position: int, limit: int) -> list[Entry]:
        """Read the store; the window is then set or extended with the result (under the lock)."""
        self._reads_begun += 1
        number = self._reads_begun
        entries = self._app.read_envelopes(start_position, limit)
        self._end_found_by = number if len(entries) < limit else 0
        return entries

    def _covers(self, position: int) -> bool:
        end = self._positions[-1] + 1 if self._positions else self._complete_from
        return self._complete_from <= position <= end and (
            bool(self._positions) or position == self._complete_from)

    def _slice(self, start_position: int, limit: int) -> list[Entry]:
        index = bisect.bisect_left(self._positions, start_position)
        return self._entries[index:index + limit]

    def _reset(self, start_position: int, entries: list[Entry]) -> None:
        self._entries = list(entries)
        self._positions = [position for position, _ in entries]
        self._complete_from = start_position
        self._trim()

    def _extend(self, entries: list[Entry]) -> None:
        self._entries.extend(entries)
        self._positions.extend(position for position, _ in entries)
        self._trim()

    def _trim(self) -> None:
        excess = len(self._entries) - self._window
        if excess > 0:
            del self._entries[:excess]
            del self._positions[:excess]
            self._complete_from = self._positions[0]
