"""One ledger entry per recorded event: the aggregate the event store keeps for every envelope.

The entry's id is the envelope's id, so the store's unique ``(originator_id, originator_version)``
constraint makes recording idempotent: a redelivered event raises ``IntegrityError`` instead of
being stored twice. The entry's only event, ``Recorded``, carries the envelope's fields exactly,
with the payload as the exact JSON text that was published, so replay hands back identical bytes.

The ledger records and reads entries through ``ledger.entry_codec`` (stored events built directly,
for speed), in exactly the format the library writes for this aggregate: ``LedgerEntry`` stays the
domain model, and ``app.repository.get(entry_id)`` returns it.
"""

from __future__ import annotations

from datetime import datetime
from uuid import UUID

import msgspec
from eventsourcing.domain import Aggregate, event
from eventsourcing.utils import get_topic

from schemas.events import EventEnvelope

__all__ = ["ENTRY_TOPIC", "RECORDED_TOPIC", "LedgerEntry"]


class LedgerEntry(Aggregate):
    """An event as the ledger recorded it; never changed after creation."""

    class Recorded(Aggregate.Created):
        """The envelope's fields (the payload as the published JSON text)."""

        event_type: str
        schema_version: int
        occurred_at: datetime
        actor: str
        request_id: str | None
        payload: str

        def to_envelope(self) -> EventEnvelope:
            """The envelope this entry recorded, with the identical payload bytes."""
            return EventEnvelope(
                id=self.originator_id,
                type=self.event_type,
                version=self.schema_version,
                occurred_at=self.occurred_at,
                actor=self.actor,
                request_id=self.request_id,
                payload=msgspec.Raw(self.payload.encode()),
            )

    # NOTE: "schema_version", not "version": an aggregate's ``version`` is its own event count.
    @event(Recorded)
    def __init__(
        self,
        *,
        id: UUID,  # NOTE: eventsourcing takes the aggregate id under this name
        event_type: str,
        schema_version: int,
        occurred_at: datetime,
        actor: str,
        request_id: str | None,
        payload: str,
    ) -> None:
        self.event_type = event_type
        self.schema_version = schema_version
        self.occurred_at = occurred_at
        self.actor = actor
        self.request_id = request_id
        self.payload = payload

    @classmethod
    def from_envelope(cls, envelope: EventEnvelope) -> LedgerEntry:
        """A new (unsaved) entry recording ``envelope``."""
        return cls(
            id=envelope.id,
            event_type=envelope.type,
            schema_version=envelope.version,
            occurred_at=envelope.occurred_at,
            actor=envelope.actor,
            request_id=envelope.request_id,
            payload=bytes(envelope.payload).decode(),
        )


ENTRY_TOPIC = get_topic(LedgerEntry)
"""Topic of the aggregate class (a ``Recorded`` event's ``originator_topic``)."""

RECORDED_TOPIC = get_topic(LedgerEntry.Recorded)
"""Topic of ``LedgerEntry.Recorded`` in the notification log (``ledger.entries:...``)."""
