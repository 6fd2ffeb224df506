"""The per-deployment circuit breaker: when a deployment leaves rotation and how it comes back.

A pure state machine: no I/O, no clock (time arrives as ``now_s``, wall-clock seconds). The
breaker's phase lives in the shared ``Cooldown`` entry of the stats store, so a cooldown set on
one instance holds on all; each instance keeps only its own sliding window of outcomes.

Rules:

- **Outcomes.** ``classify_outcome``: success; failure (no response, 5xx, 401, 403, 404, 408,
  429); neutral (other 4xx, the caller's fault), which counts in neither.
- **CLOSED → OPEN, immediately** when a call fails with 401, 404 or 429 and the deployment's
  model group has more than one deployment (with a single deployment there is nowhere else to go,
  so those statuses only count towards the ratio).
- **CLOSED → OPEN, by ratio** when, in this instance's sliding window (``window_s``,
  ``routing.cooldown_window``, 60 s, in 12 buckets), failures > ``allowed_fails``
  (``routing.allowed_fails``, 3) and failures / (failures + successes) >= ``failure_ratio``
  (``routing.failure_ratio``, 0.5).
- **OPEN** for ``cooldown_s`` (``routing.cooldown``, 30 s): nothing is routed to it; results of
  calls that started before it opened are ignored.
- **HALF_OPEN** from the end of the cooldown: one probe at a time (``admits``: only while the
  deployment has no request in flight on any instance). The first counted result decides:
  success → CLOSED (the cooldown entry is cleared, the window emptied); failure → OPEN for another
  ``cooldown_s``. A neutral result decides nothing.
- An admin may open (``trip``) or clear a cooldown at any time; the same shared entry is used.

The router applies a verdict to the store: ``BreakerVerdict.opens`` → ``set_cooldown(until_s,
reason)``, otherwise ``clear_cooldown``.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum

from router_engine.stats.base import Cooldown, Outcome, classify_outcome
from router_engine.stats.window import SlidingWindow
from schemas.config import RoutingConfig, duration_seconds

__all__ = [
    "BreakerPhase",
    "BreakerPolicy",
    "BreakerVerdict",
    "CircuitBreaker",
    "CircuitBreakers",
    "admits",
    "phase_of",
]


@dataclass(frozen=True, slots=True)
class BreakerPolicy:
    allowed_fails: int = 3
    """Failures in the window that are still tolerated; one more (at the ratio) opens."""
    failure_ratio: float = 0.5
    """Share of failures among counted calls in the window needed to open."""
    window_s: float = 60.0
    cooldown_s: float = 30.0
    immediate_statuses: frozenset[int] = frozenset({401, 404, 429})
    """Statuses that open at once in a group of more than one deployment."""

    @classmethod
    def from_config(cls, routing: RoutingConfig) -> BreakerPolicy:
        return cls(
            allowed_fails=routing.allowed_fails,
            failure_ratio=routing.failure_ratio,
            window_s=duration_seconds(routing.cooldown_window),
            cooldown_s=duration_seconds(routing.cooldown),
        )


class BreakerPhase(Enum):
    CLOSED = "closed"
    OPEN = "open"
    HALF_OPEN = "half_open"


def phase_of(cooldown: Cooldown | None, now_s: float) -> BreakerPhase:
    """The phase the shared cooldown entry puts a deployment in at ``now_s``."""
    if cooldown is None:
        return BreakerPhase.CLOSED
    return BreakerPhase.OPEN if now_s < cooldown.until_s else BreakerPhase.HALF_OPEN


def admits(cooldown: Cooldown | None, in_flight: int, now_s: float) -> bool:
    """Whether a new call may go to the deployment: closed, or half-open with no probe running."""
    phase = phase_of(cooldown, now_s)
    if phase is BreakerPhase.HALF_OPEN:
        return in_flight == 0
    return phase is BreakerPhase.CLOSED


@dataclass(frozen=True, slots=True)
class BreakerVerdict:
    """A change the router must make visible to every instance."""

    opens: bool
    """True: ``set_cooldown(until_s, reason)``; False: ``clear_cooldown``."""
    until_s: float | None = None
    reason: str = ""


_CLOSE = BreakerVerdict(opens=False, reason="probe succeeded")


class CircuitBreaker:
    """One deployment's breaker on this instance."""

    __slots__ = ("_policy", "_was_closed", "_window")

    def __init__(self, policy: BreakerPolicy) -> None:
        self._policy = policy
        self._window = SlidingWindow(policy.window_s)
        self._was_closed = True

    def window_counts(self, now_s: float) -> tuple[int, int]:
        """``(successes, failures)`` this instance saw in the window."""
        return self._window.counts(now_s)

    def on_result(
        self,
        *,
        now_s: float,
        ok: bool,
        status: int | None,
        group_size: int,
        cooldown: Cooldown | None,
    ) -> BreakerVerdict | None:
        """Feed one finished call; returns the change to publish, or None.

        Args:
            now_s: when the call ended (wall clock).
            ok: the call produced a response for the client.
            status: upstream HTTP status, or None when no response arrived.
            group_size: deployments in the model group (immediate cooldowns need more than one).
            cooldown: the deployment's shared cooldown entry from the current stats snapshot.
        """
        if ok and cooldown is None:
            # PERF: the usual case, a success while closed, without classifying: as below.
            if not self._was_closed:
                self._window.clear()
                self._was_closed = True
            self._window.add(now_s, successes=1)
            return None
        outcome = classify_outcome(ok, status)
        phase = phase_of(cooldown, now_s)
        if phase is BreakerPhase.CLOSED and not self._was_closed:
            # NOTE: closed elsewhere (a probe or an admin): start again from a clean slate.
            self._window.clear()
        self._was_closed = phase is BreakerPhase.CLOSED
        if outcome is Outcome.NEUTRAL or phase is BreakerPhase.OPEN:
            return None
        if phase is BreakerPhase.HALF_OPEN:
            if outcome is Outcome.SUCCESS:
                self._window.clear()
                return _CLOSE
            return self.trip(now_s, reason=f"probe failed ({_describe(status)})")
        return self._on_closed_result(now_s, outcome, status, group_size)

    def _on_closed_result(
        self, now_s: float, outcome: Outcome, status: int | None, group_size: int
    ) -> BreakerVerdict | None:
        policy = self._policy
        if outcome is Outcome.SUCCESS:
            self._window.add(now_s, successes=1)
            return None
        self._window.add(now_s, failures=1)
        if group_size > 1 and status in policy.immediate_statuses:
            return self.trip(now_s, reason=f"upstream returned {status}")
        successes, failures = self._window.counts(now_s)
        if failures > policy.allowed_fails and failures >= policy.failure_ratio * (
            successes + failures
        ):
            return self.trip(
                now_s, reason=f"{failures} of {successes + failures} calls failed in the window"
            )
        return None

    def trip(self, now_s: float, *, reason: str, duration_s: float | None = None) -> BreakerVerdict:
        """Open now, for ``duration_s`` (default: the policy's cooldown)."""
        self._was_closed = False
        length = self._policy.cooldown_s if duration_s is None else duration_s
        return BreakerVerdict(opens=True, until_s=now_s + length, reason=reason)


def _describe(status: int | None) -> str:
    return "no response" if status is None else f"status {status}"


class CircuitBreakers:
    """This instance's breakers, one per deployment id, created on first use."""

    __slots__ = ("_breakers", "policy")

    def __init__(self, policy: BreakerPolicy) -> None:
        self.policy = policy
        self._breakers: dict[str, CircuitBreaker] = {}

    def __getitem__(self, deployment_id: str) -> CircuitBreaker:
        breaker = self._breakers.get(deployment_id)
        if breaker is None:
            breaker = self._breakers[deployment_id] = CircuitBreaker(self.policy)
        return breaker
