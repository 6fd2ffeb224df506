"""Budget counters that survive a restart: seeded from the ``scope_spend`` read model.

The admission counts each budget window's spend in process memory (standalone) or in Redis
(distributed). At startup, and whenever an entity gains a budget (or its window changes), the
spend already recorded in the current window is read from the ``scope_spend`` projection and put
into the counter with ``seed_spend`` (set-if-greater: it never lowers spend counted since), so a
budget that was exhausted before a restart is still exhausted after it.

Standalone mode first publishes a ``gateway.started`` event and waits (bounded) until the
projection has applied it: since the bus, the ledger and the projector keep order, every usage
event of the previous run is then counted, including those still on the bus at shutdown. In
distributed mode Redis holds the counters; seeding there only fills scopes Redis does not know
(a flushed Redis, a budget added to an entity that already spent), without waiting.

What a seed may count in excess: a window that does not start on a whole minute gets the spend of
its first minute in full (``projections.scope_spend``), i.e. at most 59 s of the previous window.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import uuid
from collections.abc import Callable, Iterator, Mapping
from datetime import UTC, datetime
from typing import Protocol

from ingress.accounting import EventSink
from ingress.admission import Admission, BudgetDuration, Limit
from ingress.control import ControlState, LimitedEntity, scope_limits
from schemas.errors import ServiceUnavailable
from schemas.events import (
    EndUserState,
    EntityLimits,
    EntityState,
    EventEnvelope,
    GatewayStarted,
    KeyState,
    OrgState,
    TeamState,
    UserState,
)

__all__ = ["BudgetSeeder", "SpendSource", "budget_scopes"]

_log = logging.getLogger("llmux.admission")

_COLUMNS = {KeyState.KIND: "key_id", UserState.KIND: "user_id", TeamState.KIND: "team_id",
            OrgState.KIND: "org_id", EndUserState.KIND: "end_user"}
"""The ``scope_spend`` column each kind of entity is found by."""

_Seeded = tuple[str, BudgetDuration | None, datetime]
"""What a seed stays valid for: a scope, its window length and its anchor."""


class SpendSource(Protocol):
    """The ``scope_spend`` read model (``projections.SpendQueries``)."""

    async def scope_spend(self, filters: Mapping[str, str], since: datetime) -> int: ...
    async def gateway_start_applied(self, event_id: str) -> bool: ...


def budget_scopes(state: ControlState) -> Iterator[tuple[Limit, dict[str, str]]]:
    """Every budgeted scope of ``state``, with the ``scope_spend`` filter that finds its spend.

    The limits are built by ``ingress.control`` exactly as ``ControlState.limits_for`` builds
    them, so scope names and windows are the ones the admission counts under.
    """
    for entity in state.entities():
        yield from _entity_scopes(entity)
        if isinstance(entity, OrgState):
            yield from _member_scopes(entity)


def _entity_scopes(entity: EntityState) -> Iterator[tuple[Limit, dict[str, str]]]:
    whole = LimitedEntity.of(entity)
    base = {_COLUMNS[entity.KIND]: entity.entity_id}
    seen: set[str] = set()
    for model in entity.limits.model_max_budget_micros or {"": 0}:
        for limit in scope_limits([whole], model):
            if limit.has_budget and limit.scope not in seen:
                seen.add(limit.scope)
                yield limit, base if limit.scope == whole.scope else {**base, "model": model}


def _member_scopes(org: OrgState) -> Iterator[tuple[Limit, dict[str, str]]]:
    for member in org.members:
        if member.max_budget_micros is None:
            continue
        # NOTE: named as ControlState names an org member's own budget (a test pins the match).
        limits = EntityLimits(max_budget_micros=member.max_budget_micros,
                              budget_duration=org.limits.budget_duration)
        entity = LimitedEntity(f"orgmember:{org.org_id}:{member.user_id}", limits, org.created_at)
        for limit in scope_limits([entity], ""):
            yield limit, {"org_id": org.org_id, "user_id": member.user_id}


class BudgetSeeder:
    """Seeds budget counters at startup, then for every scope that gains a budget.

    Args:
        admission: the counters to seed.
        state: the control state (which scopes have budgets, and their windows).
        source: the ``scope_spend`` read model.
        sink: the outbox, for the ``gateway.started`` barrier.
        mode: the deployment mode (recorded in ``gateway.started``).
        catch_up: wait until the read model has applied everything published before this start
            (standalone); else seed from what it has now.
        catch_up_limit_s: the longest startup waits for that before seeding anyway.
        poll_s: how often the control state is checked for new budgets.
        clock: the current time (UTC-aware).
    """

    def __init__(self, admission: Admission, state: ControlState, source: SpendSource,
                 sink: EventSink, *, mode: str, catch_up: bool, catch_up_limit_s: float = 30.0,
                 poll_s: float = 1.0, clock: Callable[[], datetime] = lambda: datetime.now(UTC)
                 ) -> None:
        self._admission = admission
        self._state = state
        self._source = source
        self._sink = sink
        self._mode = mode
        self._catch_up = catch_up
        self._catch_up_limit_s = catch_up_limit_s
        self._poll_s = poll_s
        self._clock = clock
        self._seeded: set[_Seeded] = set()
        self._generation = -1
        self._barrier: str | None = None
        self._task: asyncio.Task[None] | None = None
        self.seeded_total = 0
        """Budget windows seeded with a non-zero spend so far."""

    async def start(self) -> None:
        """Catch up (standalone), seed every budgeted scope, then follow the control state."""
        if self._catch_up:
            await self._wait_for_barrier()
        await self.seed_new_scopes()
        self._task = asyncio.create_task(self._follow(), name="budget-seeder")

    async def aclose(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None

    async def seed_new_scopes(self) -> None:
        """Seed each budgeted scope not seeded yet (for its current window length and anchor)."""
        generation, now = self._state.generation, self._clock()
        current: set[_Seeded] = set()
        try:
            for limit, filters in list(budget_scopes(self._state)):
                seeded = (limit.scope, limit.budget_duration, limit.budget_anchor)
                current.add(seeded)
                if seeded not in self._seeded:
                    await self._seed(limit, filters, now)
                    self._seeded.add(seeded)
        except ServiceUnavailable as exc:
            _log.warning("budget spend not seeded yet (retrying): %s", exc.message)
            return
        # NOTE: a scope that lost its budget is forgotten: if it gets one again, it is re-seeded.
        self._seeded &= current
        self._generation = generation

    async def _seed(self, limit: Limit, filters: Mapping[str, str], now: datetime) -> None:
        start = limit.budget_window_start(now)
        spent = await self._source.scope_spend(filters, start)
        if spent > 0:
            await self._admission.seed_spend(limit.scope, start, spent)
            self.seeded_total += 1

    async def _wait_for_barrier(self) -> None:
        envelope = EventEnvelope.wrap(GatewayStarted(instance_id=uuid.uuid4().hex,
                                                     mode=self._mode), actor="system")
        self._sink.publish_nowait(envelope)
        self._barrier = str(envelope.id)
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self._catch_up_limit_s
        while loop.time() < deadline:
            if await self._barrier_applied():
                return
            await asyncio.sleep(0.02)
        _log.warning("spend projection still catching up after %ss; seeding budgets from what "
                     "it has, and again once it has caught up", self._catch_up_limit_s)

    async def _barrier_applied(self) -> bool:
        if self._barrier is None:
            return True
        try:
            applied = await self._source.gateway_start_applied(self._barrier)
        except ServiceUnavailable:
            return False
        if applied:
            self._barrier = None
        return applied

    async def _follow(self) -> None:
        while True:
            await asyncio.sleep(self._poll_s)
            if self._barrier is not None and await self._barrier_applied():
                self._seeded.clear()  # NOTE: caught up late: seed everything again (never lowers)
                self._generation = -1
            if self._state.generation != self._generation:
                await self.seed_new_scopes()
