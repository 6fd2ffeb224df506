"""The ledger: the event store of every envelope, the bus that feeds it, and the consumer between.

``LedgerApp`` (``eventsourcing``, on SQLite or Postgres; see ``open_ledger``) records envelopes
idempotently by event id, in one transaction per batch, and serves them back in notification order
with their payload bytes unchanged. ``LedgerConsumer`` moves batches from a durable bus consumer
into it and acks only after commit. The bus interface (``Bus``, ``Consumer``...) and its
implementations (``LocalBus``, ``NatsBus``) and the hot path's ``Outbox`` live in ``ledger.bus``.

May import: ``schemas`` only. Never ``router_engine``, ``projections`` or ``ingress``.
"""

from ledger.application import LedgerApp, LedgerUnavailable, open_ledger
from ledger.bus import (
    Bus,
    BusMessage,
    BusUnavailable,
    Consumer,
    Delivery,
    LocalBus,
    NatsBus,
    Outbox,
)
from ledger.consumer import LedgerConsumer
from ledger.entries import LedgerEntry

__all__ = [
    "Bus",
    "BusMessage",
    "BusUnavailable",
    "Consumer",
    "Delivery",
    "LedgerApp",
    "LedgerConsumer",
    "LedgerEntry",
    "LedgerUnavailable",
    "LocalBus",
    "NatsBus",
    "Outbox",
    "open_ledger",
]
