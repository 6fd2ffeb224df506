"""Read models built from the ledger's notification log: spend per key per day, the key registry.

A projection matches on event types and writes its rows together with its position in the log
(exactly once); ``ProjectionRunner`` keeps it current by polling the ledger, and ``rebuild()``
replays it from position 0 with byte-identical results. Views live in SQLite (standalone) or
Postgres (distributed). Ingress reads them only through ``SpendQueries`` (``open_queries``).

May import: ``schemas`` and ``ledger``. Never ``ingress`` or ``router_engine``.
"""

from projections.base import Projection, View
from projections.catalog import PROJECTION_NAMES, open_projection, open_projections
from projections.keys import (
    KeyRecord,
    KeyRegistryProjection,
    KeyRegistryView,
    PostgresKeyRegistryView,
    SQLiteKeyRegistryView,
)
from projections.queries import (
    PostgresSpendQueries,
    SpendQueries,
    SQLiteSpendQueries,
    open_queries,
)
from projections.runner import ProjectionRunner
from projections.spend import (
    PostgresSpendView,
    SpendByKeyDay,
    SpendRow,
    SpendView,
    SQLiteSpendView,
)
from projections.stores import ProjectionConflict, StoreUnavailable, Tracking

__all__ = [
    "PROJECTION_NAMES",
    "KeyRecord",
    "KeyRegistryProjection",
    "KeyRegistryView",
    "PostgresKeyRegistryView",
    "PostgresSpendQueries",
    "PostgresSpendView",
    "Projection",
    "ProjectionConflict",
    "ProjectionRunner",
    "SQLiteKeyRegistryView",
    "SQLiteSpendQueries",
    "SQLiteSpendView",
    "SpendByKeyDay",
    "SpendQueries",
    "SpendRow",
    "SpendView",
    "StoreUnavailable",
    "Tracking",
    "View",
    "open_projection",
    "open_projections",
    "open_queries",
]
