"""What every read model is made of: a projection (pure derivation) and a view (its tables).

A projection turns a batch of ``(position, envelope)`` pairs into rows with a ``match`` on the event
type, one short case per event it cares about; every other event only advances the position. The
derivation is pure (no clock, no randomness, no float money), so a rebuild from position 0 gives
the same rows, byte for byte, as the live projection. Its view writes the rows and the position in
one transaction (``*_with_tracking``), so each event is applied exactly once.
"""

from __future__ import annotations

import logging
from abc import ABC, abstractmethod
from collections.abc import Sequence
from typing import ClassVar, Generic, TypeVar

from projections.stores import Store, Tracking
from schemas.events import EventEnvelope, EventPayload, decode_payload

__all__ = ["Projection", "View", "decode_as"]

_log = logging.getLogger(__name__)

PayloadT = TypeVar("PayloadT", bound=EventPayload)
ViewT = TypeVar("ViewT", bound="View")


class View(ABC):
    """A read model's tables and its position, in one store; created if absent on construction.

    Subclasses name their tables and give their DDL per dialect; their write methods are named
    ``*_with_tracking`` and call ``store.advance`` in the same transaction as the rows.
    """

    name: ClassVar[str]
    """The projection's name, also its key in the position table (``spend``, ``keys``)."""
    tables: ClassVar[tuple[str, ...]]

    def __init__(self, store: Store) -> None:
        self.store = store
        self.create()

    @abstractmethod
    def ddl(self) -> list[str]:
        """``CREATE TABLE IF NOT EXISTS`` statements of this view's tables, in this dialect."""

    def create(self) -> None:
        """Create the tables and a position of 0 where absent."""
        with self.store.transaction() as cursor:
            for statement in self.ddl():
                cursor.execute(statement)
            self.store.create_tracking(cursor, self.name)

    def reset(self) -> None:
        """Drop the rows and set the position to 0, in one transaction (before a rebuild)."""
        with self.store.transaction() as cursor:
            for table in self.tables:
                cursor.execute(f"DROP TABLE IF EXISTS {table}")
            for statement in self.ddl():
                cursor.execute(statement)
            self.store.create_tracking(cursor, self.name)
            self.store.reset_tracking(cursor, self.name)

    def position(self) -> int:
        """The last notification position applied (0: none)."""
        return self.store.position(self.name)

    def close(self) -> None:
        self.store.close()


class Projection(ABC, Generic[ViewT]):
    """Derives one read model from the ledger's envelopes into its view."""

    def __init__(self, view: ViewT) -> None:
        self.view = view

    @property
    def name(self) -> str:
        return self.view.name

    @abstractmethod
    def process_batch(
        self, events: Sequence[tuple[int, EventEnvelope]], tracking: Tracking
    ) -> None:
        """Apply ``events`` and move the position as ``tracking`` says, in one transaction.

        Raises:
            ProjectionConflict: another runner moved the position first (nothing was written).
            StoreUnavailable: the view's store cannot be written now (nothing was written).
        """


def decode_as(envelope: EventEnvelope, cls: type[PayloadT]) -> PayloadT | None:
    """The payload of ``envelope`` as ``cls``, or None (logged) when it does not decode.

    A payload that never decodes is skipped rather than retried forever: a rebuild skips it too,
    so the result stays deterministic.
    """
    try:
        payload = decode_payload(envelope)
    except ValueError:
        _log.error(
            "projection skipped an event whose payload does not decode",
            extra={"event_id": str(envelope.id), "event_type": envelope.type},
        )
        return None
    return payload if isinstance(payload, cls) else None
