"""A sliding-window success/failure counter in fixed memory, with time as an argument.

The window is ``buckets`` buckets of ``window_s / buckets`` seconds each; a count leaves the window
when its whole bucket is older than the window, so the window is exact to one bucket width.
"""

from __future__ import annotations

import math

__all__ = ["SlidingWindow"]


class SlidingWindow:
    """Success and failure counts over the last ``window_s`` seconds."""

    __slots__ = (
        "_bucket_s",
        "_counted",
        "_counted_at",
        "_failures",
        "_indexes",
        "_size",
        "_successes",
    )

    def __init__(self, window_s: float, buckets: int = 12) -> None:
        if window_s <= 0 or buckets < 1:
            raise ValueError("window_s must be positive and buckets at least 1")
        self._size = buckets
        self._bucket_s = window_s / buckets
        # NOTE: a ring of buckets indexed by absolute bucket number, so memory is fixed however
        # many calls a busy deployment makes in a window.
        self._indexes = [-1] * buckets
        self._successes = [0] * buckets
        self._failures = [0] * buckets
        # PERF: the last ``counts`` answer and the bucket it was for, kept up to date by ``add``
        # within that bucket: a snapshot after every call reads it without summing the ring.
        self._counted_at: int | None = None
        self._counted = (0, 0)

    def bucket_of(self, now_s: float) -> int:
        return math.floor(now_s / self._bucket_s)

    def add(self, now_s: float, *, successes: int = 0, failures: int = 0) -> None:
        index = self.bucket_of(now_s)
        slot = index % self._size
        if self._indexes[slot] != index:
            self._indexes[slot] = index
            self._successes[slot] = 0
            self._failures[slot] = 0
        self._successes[slot] += successes
        self._failures[slot] += failures
        if self._counted_at == index:
            counted_successes, counted_failures = self._counted
            self._counted = (counted_successes + successes, counted_failures + failures)
        else:
            self._counted_at = None

    def counts(self, now_s: float) -> tuple[int, int]:
        """``(successes, failures)`` in the window ending at ``now_s``."""
        current = self.bucket_of(now_s)
        if self._counted_at == current:
            return self._counted
        oldest = current - self._size + 1
        successes = failures = 0
        for slot, index in enumerate(self._indexes):
            if oldest <= index <= current:
                successes += self._successes[slot]
                failures += self._failures[slot]
        self._counted_at = current
        self._counted = (successes, failures)
        return self._counted

    def clear(self) -> None:
        self._indexes = [-1] * self._size
        self._counted_at = None
