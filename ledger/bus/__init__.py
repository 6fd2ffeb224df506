"""The event bus: one append-only stream of events between the hot path and the ledger.

Owns the ``Bus`` interface and its two implementations — ``LocalBus`` (standalone mode: SQLite, in
process) and ``NatsBus`` (distributed mode: NATS JetStream) — which pass one contract test suite,
and the ``Outbox``, the hot path's non-blocking, never-dropping hand-off to either of them (it
spills to a local file while the bus is down). Imports only ``schemas`` (and nats-py inside
``NatsBus``); nats-py exceptions never leave this package (they become ``BusUnavailable``).
"""

from ledger.bus.base import Bus, BusMessage, BusUnavailable, Consumer, Delivery
from ledger.bus.local import LocalBus
from ledger.bus.nats import NatsBus
from ledger.bus.outbox import Outbox

__all__ = [
    "Bus",
    "BusMessage",
    "BusUnavailable",
    "Consumer",
    "Delivery",
    "LocalBus",
    "NatsBus",
    "Outbox",
]
