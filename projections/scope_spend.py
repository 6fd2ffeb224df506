"""Spend per budget dimension per UTC minute, so a restarted gateway can seed its budget counters.

Admission keeps every budget window's spend in process memory (standalone) or Redis (distributed).
When those counters are lost, a gateway seeds them from here: the spend of a scope since its
window's start is one indexed ``SUM`` over this table. One row per (key, user, team, org, end
user, requested model, minute) holds the requests and cost of that minute, so every scope the
admission knows is a filter on these columns::

    key:<k>              key_id = k                 key:<k>:model:<m>   key_id = k AND model = m
    team:<t>             team_id = t                orgmember:<o>:<u>   org_id = o AND user_id = u
    enduser:<e>          end_user = e               ...

Rows keep the dimensions recorded with each usage event (the key's team *when it spent*), so a key
moved to another team does not carry its history into the new team's budget.

Minutes bound the precision: a window that does not start on a whole minute is seeded with the
spend of its first, partial minute in full (at most 59 s of the previous window, counted in the
conservative direction). ``gateway.started`` events are recorded too: a gateway that published one
knows every event before it has been applied once that event shows up here.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from projections.base import Projection, View, decode_as
from projections.stores import PostgresStore, SQLiteStore, Tracking
from schemas.events import EventEnvelope, GatewayStarted, UsageRecorded

__all__ = [
    "SCOPE_COLUMNS",
    "PostgresScopeSpendView",
    "SQLiteScopeSpendView",
    "ScopeSpend",
    "ScopeSpendRow",
    "ScopeSpendView",
    "epoch_minute",
    "started_query",
    "sum_query",
]

SCOPE_COLUMNS = ("key_id", "user_id", "team_id", "org_id", "end_user", "model")
"""The dimensions a scope filter may name (``""`` stands for none in every column)."""

_TABLE = "spend_by_scope_minute"
_STARTS = "gateway_starts"
_COLUMNS = (*SCOPE_COLUMNS, "minute", "requests", "cost_micros")
_INDEXED = ("user_id", "team_id", "org_id", "end_user")


def epoch_minute(moment: datetime) -> int:
    """Whole minutes since the Unix epoch (a naive time is taken as UTC)."""
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return int(moment.timestamp()) // 60


@dataclass(frozen=True, slots=True)
class ScopeSpendRow:
    """Requests and cost of one combination of dimensions in one UTC minute."""

    dimensions: tuple[str, str, str, str, str, str]
    """Values of :data:`SCOPE_COLUMNS`, in that order."""
    minute: int
    requests: int
    cost_micros: int


def _dimensions(usage: UsageRecorded) -> tuple[str, str, str, str, str, str]:
    return (usage.key_id or "", usage.user_id or "", usage.team_id or "", usage.org_id or "",
            usage.end_user or "", usage.model_requested)


def sum_query(filters: Sequence[str], mark: Any) -> str:
    """``SUM(cost_micros)`` of the rows matching ``filters`` (column names) since a minute.

    Args:
        filters: columns compared for equality, each one of :data:`SCOPE_COLUMNS`.
        mark: the driver's parameter marker for the n-th (1-based) parameter, e.g.
            ``lambda n: "?"`` or ``lambda n: f"${n}"``; the minute is the last parameter.

    Raises:
        ValueError: a filter names no known column (never interpolate anything else).
    """
    unknown = set(filters) - set(SCOPE_COLUMNS)
    if unknown or not filters:
        raise ValueError(f"scope filters must be some of {SCOPE_COLUMNS}, got {list(filters)}")
    conditions = [f"{column} = {mark(index)}" for index, column in enumerate(filters, 1)]
    conditions.append(f"minute >= {mark(len(filters) + 1)}")
    return f"SELECT COALESCE(SUM(cost_micros), 0) FROM {_TABLE} WHERE {' AND '.join(conditions)}"


def started_query(mark: str) -> str:
    """Whether a ``gateway.started`` event (by id) has been applied: one row or none."""
    return f"SELECT 1 FROM {_STARTS} WHERE event_id = {mark}"


class ScopeSpendView(View):
    """The ``spend_by_scope_minute`` and ``gateway_starts`` tables."""

    name = "scope_spend"
    tables = (_TABLE, _STARTS)

    def ddl(self) -> list[str]:
        text = ", ".join(f"{column} TEXT NOT NULL" for column in SCOPE_COLUMNS)
        keys = ", ".join((*SCOPE_COLUMNS, "minute"))
        statements = [
            f"CREATE TABLE IF NOT EXISTS {_TABLE} ({text}, minute BIGINT NOT NULL, "
            f"requests BIGINT NOT NULL, cost_micros BIGINT NOT NULL, PRIMARY KEY ({keys}))",
            f"CREATE TABLE IF NOT EXISTS {_STARTS} (event_id TEXT PRIMARY KEY)",
        ]
        statements += [f"CREATE INDEX IF NOT EXISTS {_TABLE}_{column} ON {_TABLE} "
                       f"({column}, minute)" for column in _INDEXED]
        return statements

    def add_with_tracking(self, rows: Sequence[ScopeSpendRow], started: Sequence[str],
                          tracking: Tracking) -> None:
        """Add ``rows`` to the stored sums, record ``started`` event ids, move the position.

        Raises:
            ProjectionConflict: the position is no longer ``tracking.previous``; nothing changed.
        """
        mark = self.store.placeholder
        with self.store.transaction() as cursor:
            self.store.advance(cursor, tracking)
            if rows:
                cursor.executemany(self._upsert_sql(), [
                    (*row.dimensions, row.minute, row.requests, row.cost_micros) for row in rows
                ])
            for event_id in started:
                cursor.execute(f"INSERT INTO {_STARTS} (event_id) VALUES ({mark}) "
                               "ON CONFLICT (event_id) DO NOTHING", (event_id,))

    def spend(self, filters: Mapping[str, str], since: datetime) -> int:
        """Cost of the rows matching ``filters`` from the minute of ``since`` on."""
        query = sum_query(list(filters), lambda _: self.store.placeholder)
        rows = self.store.select(query, (*filters.values(), epoch_minute(since)))
        return int(rows[0][0])

    def rows(self) -> list[ScopeSpendRow]:
        """Every stored row, ordered by dimensions and minute."""
        found = self.store.select(
            f"SELECT {', '.join(_COLUMNS)} FROM {_TABLE} ORDER BY {', '.join(_COLUMNS[:7])}")
        return [ScopeSpendRow(tuple(row[:6]), int(row[6]), int(row[7]), int(row[8]))
                for row in found]

    def _upsert_sql(self) -> str:
        marks = ", ".join([self.store.placeholder] * len(_COLUMNS))
        keys = ", ".join((*SCOPE_COLUMNS, "minute"))
        return (
            f"INSERT INTO {_TABLE} ({', '.join(_COLUMNS)}) VALUES ({marks}) "
            f"ON CONFLICT ({keys}) DO UPDATE SET "
            f"requests = {_TABLE}.requests + excluded.requests, "
            f"cost_micros = {_TABLE}.cost_micros + excluded.cost_micros"
        )


class SQLiteScopeSpendView(ScopeSpendView):
    def __init__(self, path: str) -> None:
        super().__init__(SQLiteStore(path))


class PostgresScopeSpendView(ScopeSpendView):
    def __init__(self, url: str) -> None:
        super().__init__(PostgresStore(url))


class ScopeSpend(Projection[ScopeSpendView]):
    """Spend per budget dimension per minute, and the gateway starts seen."""

    def process_batch(
        self, events: Sequence[tuple[int, EventEnvelope]], tracking: Tracking
    ) -> None:
        sums: dict[tuple[tuple[str, str, str, str, str, str], int], list[int]] = {}
        started: list[str] = []
        for _, envelope in events:
            match envelope.type:
                case UsageRecorded.TYPE:
                    usage = decode_as(envelope, UsageRecorded)
                    if usage is not None:
                        key = (_dimensions(usage), epoch_minute(envelope.occurred_at))
                        total = sums.setdefault(key, [0, 0])
                        total[0] += 1
                        total[1] += usage.cost_micros
                case GatewayStarted.TYPE:
                    started.append(str(envelope.id))
                case _:
                    pass  # every other event only advances the position
        rows = [ScopeSpendRow(dims, minute, requests, cost)
                for (dims, minute), (requests, cost) in sorted(sums.items())]
        self.view.add_with_tracking(rows, started, tracking)
