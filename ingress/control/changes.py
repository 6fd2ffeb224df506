"""Recording a management change: one admin event, applied here at once and published to all.

The event is applied to this instance's control state before the response is sent (a client that
creates a key can use it on this instance immediately), and handed to the outbox, which delivers
it to the bus; every instance (this one included, idempotently) applies it from there, and the
ledger stores it. Each event gets a fresh id: one management request may record several events of
one type (deleting a team deletes each of its keys), and none may be mistaken for a redelivery.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Protocol

import msgspec

from ingress.auth import Caller
from ingress.control.state import ControlState
from schemas.events import AdminChange, EventEnvelope

__all__ = ["AdminEventSink", "ChangeContext", "ChangeRecorder"]


class AdminEventSink(Protocol):
    """Where events go: the outbox (``ledger.Outbox``)."""

    def publish_nowait(self, envelope: EventEnvelope) -> None: ...


@dataclass(frozen=True, slots=True)
class ChangeContext:
    """Who asks for a change, from where, in which request, and when."""

    caller: Caller
    source_ip: str | None
    request_id: str | None
    now: datetime


class ChangeRecorder:
    """Applies admin events to the local control state and publishes them."""

    def __init__(self, state: ControlState, sink: AdminEventSink) -> None:
        self._state = state
        self._sink = sink

    def record(self, context: ChangeContext, change: AdminChange) -> EventEnvelope:
        """Stamp the entity's next revision on ``after``, apply the event here, publish it."""
        change = self._with_revision(change, context)
        envelope = EventEnvelope.wrap(
            change, actor=context.caller.actor, request_id=context.request_id,
            occurred_at=context.now,
        )
        self._state.apply_change(change, envelope.occurred_at)
        self._sink.publish_nowait(envelope)
        return envelope

    def _with_revision(self, change: AdminChange, context: ChangeContext) -> AdminChange:
        outcome = change.outcome(context.now)
        after = getattr(change, "after", None)
        if outcome is None or after is None:
            return change  # a deletion's revision follows from ``before``; KeyCreated is new
        revision = self._state.next_revision(outcome.kind, outcome.entity_id)
        return msgspec.structs.replace(
            change, after=msgspec.structs.replace(after, revision=revision))
