"""What admission does while its shared store is unreachable, and when to try the store again."""

from __future__ import annotations

from collections.abc import Callable
from enum import StrEnum

__all__ = ["FailurePolicy", "Outage"]


class FailurePolicy(StrEnum):
    """What admission does while Redis is unreachable."""

    CLOSED = "closed"
    OPEN = "open"


class Outage:
    """When Redis last failed, and whether it is time to try it again."""

    __slots__ = ("_clock", "_probe_interval_s", "_retry_at", "failures", "is_degraded")

    def __init__(self, probe_interval_s: float, clock: Callable[[], float]) -> None:
        self._clock = clock
        self._probe_interval_s = probe_interval_s
        self._retry_at = 0.0
        self.failures = 0
        self.is_degraded = False

    def should_skip_store(self) -> bool:
        return self.is_degraded and self._clock() < self._retry_at

    def failed(self) -> bool:
        """Record a failure; True when this starts an outage."""
        started = not self.is_degraded
        self.is_degraded = True
        self.failures += 1
        self._retry_at = self._clock() + self._probe_interval_s
        return started

    def succeeded(self) -> bool:
        """Record a success; True when this ends an outage."""
        ended = self.is_degraded
        self.is_degraded = False
        return ended
