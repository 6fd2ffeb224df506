"""SlidingWindow: counts per window, checked against a plain re-summing reference."""

from __future__ import annotations

import math
import random

import pytest

from router_engine.stats.window import SlidingWindow


class ReferenceWindow:
    """The same ring of buckets, summed from scratch on every read."""

    def __init__(self, window_s: float, buckets: int) -> None:
        self.size, self.bucket_s = buckets, window_s / buckets
        self.indexes, self.successes, self.failures = [-1] * buckets, [0] * buckets, [0] * buckets

    def add(self, now_s: float, successes: int, failures: int) -> None:
        index = math.floor(now_s / self.bucket_s)
        slot = index % self.size
        if self.indexes[slot] != index:
            self.indexes[slot], self.successes[slot], self.failures[slot] = index, 0, 0
        self.successes[slot] += successes
        self.failures[slot] += failures

    def counts(self, now_s: float) -> tuple[int, int]:
        current = math.floor(now_s / self.bucket_s)
        kept = [slot for slot, index in enumerate(self.indexes)
                if current - self.size < index <= current]
        return sum(self.successes[s] for s in kept), sum(self.failures[s] for s in kept)

    def clear(self) -> None:
        self.indexes = [-1] * self.size


def test_counts_leave_the_window_bucket_by_bucket() -> None:
    window = SlidingWindow(60.0)  # 12 buckets of 5 s
    window.add(1000.0, successes=2)
    window.add(1004.9, failures=1)
    window.add(1005.0, successes=1)
    assert window.counts(1005.0) == (3, 1)
    assert window.counts(1059.9) == (3, 1)
    assert window.counts(1060.0) == (1, 0)  # the bucket of 1000-1005 left the window
    window.add(1060.0, failures=4)
    assert window.counts(1060.0) == (1, 4)
    window.clear()
    assert window.counts(1060.0) == (0, 0)
    window.add(1060.0, successes=1)
    assert window.counts(1060.0) == (1, 0)


@pytest.mark.parametrize("seed", range(20))
def test_matches_the_reference_under_random_use(seed: int) -> None:
    rng = random.Random(seed)
    window, reference = SlidingWindow(60.0), ReferenceWindow(60.0, 12)
    now = 1_900_000_000.0
    for _ in range(2000):
        action = rng.random()
        now += rng.choice((0.0, 0.01, 0.5, 3.0, 7.0, 70.0, -2.0))  # the clock may step back
        if action < 0.6:
            successes, failures = rng.choice(((1, 0), (0, 1), (2, 3)))
            window.add(now, successes=successes, failures=failures)
            reference.add(now, successes, failures)
        elif action < 0.98:
            at = now + rng.choice((0.0, -1.0, 4.0, 30.0))
            assert window.counts(at) == reference.counts(at)
        else:
            window.clear()
            reference.clear()
