"""Live deployment stats: the immutable snapshot strategies read, and the store that keeps it.

A strategy never waits for I/O: it reads a ``StatsSnapshot`` that the store keeps locally (in
memory, or refreshed from Redis in the background). The router reports each call's start and end to
the store; those calls never block, and never raise because a shared backend is down.

What counts as a deployment's fault is decided once, here (``classify_outcome``), so the success
rate strategies weigh by and the circuit breaker's failure ratio agree.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import Enum
from types import MappingProxyType

__all__ = [
    "DEPLOYMENT_FAULT_4XX",
    "Cooldown",
    "DeploymentStats",
    "Outcome",
    "StatsSnapshot",
    "StatsStore",
    "classify_outcome",
]

DEPLOYMENT_FAULT_4XX = frozenset({401, 403, 404, 408, 429})
"""Client-error statuses that still say something about the deployment (its credential, its model
name, its capacity), so they count as failures. Other 4xx are the caller's fault."""


class Outcome(Enum):
    SUCCESS = "success"
    FAILURE = "failure"
    NEUTRAL = "neutral"
    """The caller's fault (a 400, say): neither a success nor a failure of the deployment."""


def classify_outcome(ok: bool, status: int | None) -> Outcome:
    """How one finished call counts for the deployment's health.

    Args:
        ok: the call produced a response for the client.
        status: the upstream HTTP status, or None when no response arrived (connect error, timeout).
    """
    if ok:
        return Outcome.SUCCESS
    if status is None or status >= 500 or status in DEPLOYMENT_FAULT_4XX:
        return Outcome.FAILURE
    return Outcome.NEUTRAL


@dataclass(frozen=True, slots=True)
class Cooldown:
    """A deployment taken out of rotation, shared by every instance.

    Before ``until_s`` the breaker is open; from ``until_s`` on it is half-open until a probe's
    result clears or renews the entry (see ``router_engine.cooldown``).
    """

    until_s: float
    """Wall-clock (UNIX) seconds: instances compare it with their own clock."""
    reason: str


@dataclass(frozen=True, slots=True)
class DeploymentStats:
    """What routing knows about one deployment right now."""

    in_flight: int = 0
    """Requests started and not yet ended, summed over every instance."""
    latency_ewma_ms: float | None = None
    """EWMA of whole-call latency of successful calls; None before the first sample."""
    ttft_ewma_ms: float | None = None
    """EWMA of time to first token of successful streams; None before the first sample."""
    successes: int = 0
    """Successful calls in the sliding health window."""
    failures: int = 0
    """Failed calls (``Outcome.FAILURE``) in the sliding health window."""
    minute_requests: int = 0
    """Requests started in the current calendar minute (UTC)."""
    minute_tokens: int = 0
    """Tokens (prompt + completion) of calls ended in the current calendar minute."""
    cooldown: Cooldown | None = None

    @property
    def success_rate(self) -> float:
        """Successes over counted calls in the window; 1.0 with none (innocent until failing)."""
        total = self.successes + self.failures
        return 1.0 if total == 0 else self.successes / total


_NO_STATS = DeploymentStats()
_NO_DEPLOYMENTS: Mapping[str, DeploymentStats] = MappingProxyType({})
_NO_COUNTERS: Mapping[str, int] = MappingProxyType({})


@dataclass(frozen=True, slots=True)
class StatsSnapshot:
    """An immutable view of every deployment's stats, taken without I/O."""

    deployments: Mapping[str, DeploymentStats] = field(default_factory=lambda: _NO_DEPLOYMENTS)
    """Deployment id → stats; a deployment never seen has all-zero stats (``get``)."""
    round_robin: Mapping[str, int] = field(default_factory=lambda: _NO_COUNTERS)
    """Model group → last known value of its round-robin counter."""
    taken_at_s: float = 0.0
    """Wall-clock seconds when the snapshot was built."""
    is_stale: bool = False
    """True when the shared backend could not be read recently: the data may be old."""

    def get(self, deployment_id: str) -> DeploymentStats:
        return self.deployments.get(deployment_id, _NO_STATS)


class StatsStore(ABC):
    """Keeps live deployment stats; one per process, shared by every request.

    ``snapshot``, ``record_start`` and ``record_end`` run on the hot path: they do no I/O and never
    raise for a backend outage. The async methods may do one round trip; when the backend is down
    they fall back to local state and the snapshot says ``is_stale``.
    """

    @abstractmethod
    def snapshot(self) -> StatsSnapshot:
        """The current view (local, no I/O). Cheap when nothing changed since the last call."""

    @abstractmethod
    def record_start(self, deployment_id: str) -> None:
        """A call to ``deployment_id`` starts: in flight +1, current-minute requests +1."""

    @abstractmethod
    def record_end(
        self,
        deployment_id: str,
        *,
        latency_ms: float,
        ttft_ms: float | None,
        ok: bool,
        tokens: int,
        status: int | None,
    ) -> None:
        """A call ends (every ``record_start`` is matched by exactly one ``record_end``).

        Args:
            latency_ms: whole-call latency; feeds the latency EWMA on success only.
            ttft_ms: time to first token of a stream (None otherwise); feeds the TTFT EWMA.
            ok: the call produced a response for the client.
            tokens: prompt + completion tokens the call used (0 when unknown).
            status: upstream HTTP status, or None when no response arrived.
        """

    def cooldown_of(self, deployment_id: str) -> Cooldown | None:
        """``deployment_id``'s cooldown entry as ``snapshot()`` shows it now (local, no I/O).

        Stores override it to skip building a snapshot: the router reads it after every call.
        """
        return self.snapshot().get(deployment_id).cooldown

    @abstractmethod
    async def next_round_robin(self, group: str) -> int:
        """Take the next ticket (1, 2, 3, ...) of ``group``'s rotation, shared by every instance."""

    @abstractmethod
    async def set_cooldown(self, deployment_id: str, *, until_s: float, reason: str) -> None:
        """Cool ``deployment_id`` down until ``until_s`` (wall clock), on every instance."""

    @abstractmethod
    async def clear_cooldown(self, deployment_id: str) -> None:
        """Put ``deployment_id`` back into rotation on every instance."""

    async def refresh(self) -> None:  # noqa: B027  # NOTE: optional hook; in-memory has nothing to sync.
        """Push pending writes and pull the shared view now (the background task does it anyway)."""

    async def start(self) -> None:  # noqa: B027  # NOTE: optional lifecycle hook.
        """Connect and start background work. Raises ``ServiceUnavailable`` if a backend is down."""

    async def aclose(self) -> None:  # noqa: B027  # NOTE: optional lifecycle hook.
        """Stop background work and release connections."""
