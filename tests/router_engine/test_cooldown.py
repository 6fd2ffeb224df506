"""The circuit breaker as a state machine: a table of events and the phase after each."""

from __future__ import annotations

from dataclasses import dataclass

import pytest

from router_engine.cooldown import (
    BreakerPhase,
    BreakerPolicy,
    BreakerVerdict,
    CircuitBreaker,
    CircuitBreakers,
    admits,
    phase_of,
)
from router_engine.stats import Cooldown
from schemas.config import RoutingConfig

T0 = 1_900_000_000.0
POLICY = BreakerPolicy(allowed_fails=3, failure_ratio=0.5, window_s=60.0, cooldown_s=30.0)


@dataclass
class Shared:
    """The shared cooldown entry, as the stats store would hold it, driven by verdicts."""

    cooldown: Cooldown | None = None

    def apply(self, verdict: BreakerVerdict | None) -> None:
        if verdict is None:
            return
        if verdict.opens:
            assert verdict.until_s is not None
            self.cooldown = Cooldown(until_s=verdict.until_s, reason=verdict.reason)
        else:
            self.cooldown = None


def feed(
    breaker: CircuitBreaker,
    shared: Shared,
    events: list[tuple[float, bool, int | None]],
    group_size: int = 2,
) -> list[BreakerPhase]:
    """Feed ``(seconds after T0, ok, status)`` events; the phase right after each."""
    phases = []
    for offset, ok, status in events:
        now = T0 + offset
        verdict = breaker.on_result(
            now_s=now, ok=ok, status=status, group_size=group_size, cooldown=shared.cooldown
        )
        shared.apply(verdict)
        phases.append(phase_of(shared.cooldown, now))
    return phases


C, O, H = BreakerPhase.CLOSED, BreakerPhase.OPEN, BreakerPhase.HALF_OPEN  # noqa: E741  # NOTE: one-letter phases keep the table readable.
OK = (True, 200)
E500 = (False, 500)


def at(offset: float, outcome: tuple[bool, int | None]) -> tuple[float, bool, int | None]:
    return (offset, *outcome)


TABLE = [
    pytest.param(
        [at(i, E500) for i in range(4)], 2, [C, C, C, O], id="opens-on-4th-failure-over-allowed-3"
    ),
    pytest.param(
        [at(i, OK) for i in range(6)] + [at(6 + i, E500) for i in range(5)],
        2,
        [C] * 10 + [C],
        id="5-of-11-failed-below-ratio-stays-closed",
    ),
    pytest.param(
        [at(i, OK) for i in range(4)] + [at(4 + i, E500) for i in range(4)],
        2,
        [C] * 7 + [O],
        id="4-of-8-failed-reaches-ratio",
    ),
    pytest.param(
        [at(0, E500), at(1, E500), at(2, E500), at(70, E500)],
        2,
        [C, C, C, C],
        id="old-failures-leave-the-window",
    ),
    pytest.param([at(0, (False, 429))], 2, [O], id="immediate-on-429"),
    pytest.param([at(0, (False, 401))], 3, [O], id="immediate-on-401"),
    pytest.param([at(0, (False, 404))], 2, [O], id="immediate-on-404"),
    pytest.param([at(0, (False, 429))], 1, [C], id="single-deployment-429-not-immediate"),
    pytest.param(
        [at(i, (False, 429)) for i in range(4)], 1, [C, C, C, O], id="single-deployment-by-ratio"
    ),
    pytest.param(
        [at(i, (False, 400)) for i in range(10)], 2, [C] * 10, id="callers-400-never-counts"
    ),
    pytest.param(
        [at(i, (False, None)) for i in range(4)], 2, [C, C, C, O], id="no-response-counts"
    ),
    pytest.param(
        [at(0, (False, 429)), at(10, E500), at(29, OK)],
        2,
        [O, O, O],
        id="results-while-open-ignored",
    ),
    pytest.param(
        [at(0, (False, 429)), at(30, OK), at(31, E500)],
        2,
        [O, C, C],
        id="half-open-probe-success-closes-with-clean-window",
    ),
    pytest.param(
        [at(0, (False, 429)), at(35, E500), at(64, OK), at(65, OK)],
        2,
        [O, O, O, C],
        id="half-open-probe-failure-reopens-for-another-cooldown",
    ),
    pytest.param(
        [at(0, (False, 429)), at(30, (False, 400)), at(31, OK)],
        2,
        [O, H, C],
        id="neutral-result-decides-no-probe",
    ),
]


@pytest.mark.parametrize(("events", "group_size", "phases"), TABLE)
def test_state_machine(events, group_size: int, phases: list[BreakerPhase]) -> None:
    assert feed(CircuitBreaker(POLICY), Shared(), events, group_size) == phases


def test_verdicts_carry_until_and_reason() -> None:
    breaker = CircuitBreaker(POLICY)
    verdict = breaker.on_result(now_s=T0, ok=False, status=429, group_size=2, cooldown=None)
    assert verdict == BreakerVerdict(opens=True, until_s=T0 + 30.0, reason="upstream returned 429")
    probe = breaker.on_result(
        now_s=T0 + 31, ok=False, status=None, group_size=2, cooldown=Cooldown(T0 + 30, "x")
    )
    assert probe is not None and probe.opens and probe.until_s == T0 + 61.0
    assert "no response" in probe.reason


def test_phase_and_admission_from_the_shared_entry() -> None:
    entry = Cooldown(until_s=T0 + 30, reason="x")
    assert phase_of(None, T0) is C and admits(None, 5, T0)
    assert phase_of(entry, T0 + 29.9) is O and not admits(entry, 0, T0 + 29.9)
    assert phase_of(entry, T0 + 30) is H
    assert admits(entry, 0, T0 + 30)  # the one probe
    assert not admits(entry, 1, T0 + 30)  # its probe is running (on any instance)


def test_cooldown_opened_elsewhere_then_closed_starts_a_clean_window() -> None:
    breaker, shared = CircuitBreaker(POLICY), Shared()
    assert feed(breaker, shared, [at(i, E500) for i in range(3)]) == [C, C, C]
    shared.cooldown = Cooldown(until_s=T0 + 40, reason="another instance")
    assert feed(breaker, shared, [at(5, E500)]) == [O]
    shared.cooldown = None  # an admin (or another instance's probe) closed it
    assert feed(breaker, shared, [at(50, E500), at(51, E500), at(52, E500)]) == [C, C, C]
    assert breaker.window_counts(T0 + 52) == (0, 3)


def test_admin_trip_uses_policy_or_given_duration() -> None:
    breaker = CircuitBreaker(POLICY)
    assert breaker.trip(T0, reason="admin").until_s == T0 + 30
    assert breaker.trip(T0, reason="admin", duration_s=5).until_s == T0 + 5


def test_policy_from_config_and_breakers_per_deployment() -> None:
    policy = BreakerPolicy.from_config(RoutingConfig(allowed_fails=7, cooldown="2m"))
    assert (policy.allowed_fails, policy.cooldown_s) == (7, 120.0)
    breakers = CircuitBreakers(policy)
    assert breakers["p/a"] is breakers["p/a"]
    assert breakers["p/a"] is not breakers["p/b"]
