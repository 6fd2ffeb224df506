"""Spend per key per UTC day, from ``usage.recorded`` events.

One row per (key, day) with request count, token counts and cost in integer micro-dollars. A batch
is first summed in memory, then upserted as increments together with the position, so a batch of
a thousand calls by one key is one row write. Integer sums do not depend on how the log is cut
into batches, which is why a rebuild equals the live rows exactly.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Any

from projections.base import Projection, View, decode_as
from projections.stores import PostgresStore, SQLiteStore, Tracking
from schemas.events import EventEnvelope, UsageRecorded

__all__ = [
    "PostgresSpendView",
    "SQLiteSpendView",
    "SpendByKeyDay",
    "SpendRow",
    "SpendTotals",
    "SpendView",
    "utc_day",
]

_COUNTERS = (
    "requests",
    "prompt_tokens",
    "completion_tokens",
    "cached_tokens",
    "reasoning_tokens",
    "cost_micros",
)
_COLUMNS = ("key_id", "day", *_COUNTERS)


@dataclass(frozen=True, slots=True)
class SpendRow:
    """Spend of one key on one UTC day."""

    key_id: str
    """The key's id; ``""`` for calls made without a virtual key (master key)."""
    day: date
    requests: int
    prompt_tokens: int
    completion_tokens: int
    cached_tokens: int
    reasoning_tokens: int
    cost_micros: int


def utc_day(moment: datetime) -> date:
    """The UTC calendar day of ``moment`` (a naive time is taken as UTC, never as local time)."""
    if moment.tzinfo is None:
        return moment.date()
    return moment.astimezone(UTC).date()


class SpendTotals:
    """The increments of one batch, per (key, day)."""

    def __init__(self) -> None:
        self._sums: dict[tuple[str, date], list[int]] = {}

    def add(self, day: date, usage: UsageRecorded) -> None:
        sums = self._sums.setdefault((usage.key_id or "", day), [0] * len(_COUNTERS))
        increments = (
            1,
            usage.prompt_tokens,
            usage.completion_tokens,
            usage.cached_tokens,
            usage.reasoning_tokens,
            usage.cost_micros,
        )
        for index, increment in enumerate(increments):
            sums[index] += increment

    def rows(self) -> list[SpendRow]:
        return [SpendRow(key, day, *sums) for (key, day), sums in sorted(self._sums.items())]


class SpendView(View):
    """The ``spend_by_key_day`` table; SQLite and Postgres differ only in dialect."""

    name = "spend"
    tables = ("spend_by_key_day",)
    _day_type: str

    def ddl(self) -> list[str]:
        counters = ", ".join(f"{name} BIGINT NOT NULL" for name in _COUNTERS)
        return [
            "CREATE TABLE IF NOT EXISTS spend_by_key_day (key_id TEXT NOT NULL, "
            f"day {self._day_type} NOT NULL, {counters}, PRIMARY KEY (key_id, day))"
        ]

    def add_spend_with_tracking(self, rows: Sequence[SpendRow], tracking: Tracking) -> None:
        """Add ``rows`` to the stored totals and move the position, in one transaction.

        Raises:
            ProjectionConflict: the position is no longer ``tracking.previous``; nothing changed.
        """
        with self.store.transaction() as cursor:
            self.store.advance(cursor, tracking)
            if rows:
                cursor.executemany(self._upsert_sql(), [self._params(row) for row in rows])

    def rows(self, key_id: str | None = None) -> list[SpendRow]:
        """Stored rows ordered by key and day (all keys when ``key_id`` is None)."""
        query = f"SELECT {', '.join(_COLUMNS)} FROM spend_by_key_day"
        params: tuple[str, ...] = ()
        if key_id is not None:
            query += f" WHERE key_id = {self.store.placeholder}"
            params = (key_id,)
        found = self.store.select(query + " ORDER BY key_id, day", params)
        return [SpendRow(row[0], _as_date(row[1]), *map(int, row[2:])) for row in found]

    def _upsert_sql(self) -> str:
        marks = ", ".join([self.store.placeholder] * len(_COLUMNS))
        updates = ", ".join(
            f"{name} = spend_by_key_day.{name} + excluded.{name}" for name in _COUNTERS
        )
        return (
            f"INSERT INTO spend_by_key_day ({', '.join(_COLUMNS)}) VALUES ({marks}) "
            f"ON CONFLICT (key_id, day) DO UPDATE SET {updates}"
        )

    def _params(self, row: SpendRow) -> tuple[Any, ...]:
        return (
            row.key_id,
            self._day_param(row.day),
            row.requests,
            row.prompt_tokens,
            row.completion_tokens,
            row.cached_tokens,
            row.reasoning_tokens,
            row.cost_micros,
        )

    def _day_param(self, day: date) -> Any:
        return day


class SQLiteSpendView(SpendView):
    """Spend rows in a SQLite file (days stored as ``YYYY-MM-DD`` text)."""

    _day_type = "TEXT"

    def __init__(self, path: str) -> None:
        super().__init__(SQLiteStore(path))

    def _day_param(self, day: date) -> Any:
        return day.isoformat()


class PostgresSpendView(SpendView):
    """Spend rows in Postgres (days stored as ``DATE``)."""

    _day_type = "DATE"

    def __init__(self, url: str) -> None:
        super().__init__(PostgresStore(url))


class SpendByKeyDay(Projection[SpendView]):
    """Spend per key per UTC day."""

    def process_batch(
        self, events: Sequence[tuple[int, EventEnvelope]], tracking: Tracking
    ) -> None:
        totals = SpendTotals()
        for _, envelope in events:
            self.process_event(envelope, totals)
        self.view.add_spend_with_tracking(totals.rows(), tracking)

    @staticmethod
    def process_event(envelope: EventEnvelope, totals: SpendTotals) -> None:
        match envelope.type:
            case UsageRecorded.TYPE:
                usage = decode_as(envelope, UsageRecorded)
                if usage is not None:
                    totals.add(utc_day(envelope.occurred_at), usage)
            case _:
                pass  # every other event only advances the position


def _as_date(value: date | str) -> date:
    return value if isinstance(value, date) else date.fromisoformat(value)
