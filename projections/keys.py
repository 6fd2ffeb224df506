"""The key registry read model, from ``admin.key.created`` events.

The gateway loads every key from here at startup (then follows admin events), so authenticating a
request never reads a database. Only the key's HMAC hash is known here, never the key itself.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import msgspec

from projections.base import Projection, View, decode_as
from projections.stores import PostgresStore, SQLiteStore, Tracking
from schemas.events import EventEnvelope, KeyCreated

__all__ = [
    "KeyRecord",
    "KeyRegistryProjection",
    "KeyRegistryView",
    "PostgresKeyRegistryView",
    "SQLiteKeyRegistryView",
]

KEY_COLUMNS = (
    "key_id",
    "key_hash",
    "key_prefix",
    "key_alias",
    "user_id",
    "team_id",
    "org_id",
    "models",
    "metadata",
    "created_at",
)
"""Columns of ``key_registry``, in :class:`KeyRecord` field order."""


@dataclass(frozen=True, slots=True)
class KeyRecord:
    """A virtual key as the registry knows it."""

    key_id: str
    key_hash: str
    """HMAC-SHA256 of the raw key under the server's hash secret (hex)."""
    key_prefix: str
    key_alias: str | None
    user_id: str | None
    team_id: str | None
    org_id: str | None
    models: tuple[str, ...]
    """Models the key may call; empty means every model."""
    metadata: dict[str, Any] = field(hash=False)
    created_at: datetime
    """When the key was created (the event's ``occurred_at``, UTC)."""

    @classmethod
    def from_event(cls, event: KeyCreated, created_at: datetime) -> KeyRecord:
        return cls(
            key_id=event.key_id,
            key_hash=event.key_hash,
            key_prefix=event.key_prefix,
            key_alias=event.key_alias,
            user_id=event.user_id,
            team_id=event.team_id,
            org_id=event.org_id,
            models=tuple(event.models),
            metadata=dict(event.metadata),
            created_at=_utc(created_at),
        )

    @classmethod
    def from_row(cls, row: Sequence[Any]) -> KeyRecord:
        """A record from a ``key_registry`` row (JSON as text; the time as text or a value)."""
        created_at = row[9] if isinstance(row[9], datetime) else datetime.fromisoformat(row[9])
        return cls(
            key_id=row[0],
            key_hash=row[1],
            key_prefix=row[2],
            key_alias=row[3],
            user_id=row[4],
            team_id=row[5],
            org_id=row[6],
            models=tuple(msgspec.json.decode(row[7], type=list[str])),
            metadata=msgspec.json.decode(row[8], type=dict[str, Any]),
            created_at=_utc(created_at),
        )

    def params(self) -> tuple[Any, ...]:
        """Column values, with ``models`` and ``metadata`` as canonical JSON text."""
        return (
            self.key_id,
            self.key_hash,
            self.key_prefix,
            self.key_alias,
            self.user_id,
            self.team_id,
            self.org_id,
            msgspec.json.encode(list(self.models)).decode(),
            msgspec.json.encode(self.metadata, order="sorted").decode(),
            self.created_at,
        )


class KeyRegistryView(View):
    """The ``key_registry`` table; SQLite and Postgres differ only in dialect."""

    name = "keys"
    tables = ("key_registry",)
    _time_type: str

    def ddl(self) -> list[str]:
        return [
            "CREATE TABLE IF NOT EXISTS key_registry (key_id TEXT PRIMARY KEY, "
            "key_hash TEXT NOT NULL, key_prefix TEXT NOT NULL, key_alias TEXT, user_id TEXT, "
            "team_id TEXT, org_id TEXT, models TEXT NOT NULL, metadata TEXT NOT NULL, "
            f"created_at {self._time_type} NOT NULL)"
        ]

    def add_keys_with_tracking(self, records: Sequence[KeyRecord], tracking: Tracking) -> None:
        """Insert new keys (a key id seen before keeps its first record) and move the position.

        Raises:
            ProjectionConflict: the position is no longer ``tracking.previous``; nothing changed.
        """
        marks = ", ".join([self.store.placeholder] * len(KEY_COLUMNS))
        insert = (
            f"INSERT INTO key_registry ({', '.join(KEY_COLUMNS)}) VALUES ({marks}) "
            "ON CONFLICT (key_id) DO NOTHING"
        )
        with self.store.transaction() as cursor:
            self.store.advance(cursor, tracking)
            if records:
                cursor.executemany(insert, [self._params(record) for record in records])

    def records(self) -> list[KeyRecord]:
        """Every key, ordered by key id."""
        found = self.store.select(
            f"SELECT {', '.join(KEY_COLUMNS)} FROM key_registry ORDER BY key_id"
        )
        return [KeyRecord.from_row(row) for row in found]

    def _params(self, record: KeyRecord) -> tuple[Any, ...]:
        return record.params()


class SQLiteKeyRegistryView(KeyRegistryView):
    """Keys in a SQLite file (times stored as ISO 8601 text)."""

    _time_type = "TEXT"

    def __init__(self, path: str) -> None:
        super().__init__(SQLiteStore(path))

    def _params(self, record: KeyRecord) -> tuple[Any, ...]:
        params = record.params()
        return (*params[:-1], record.created_at.isoformat())


class PostgresKeyRegistryView(KeyRegistryView):
    """Keys in Postgres (times stored as ``TIMESTAMPTZ``)."""

    _time_type = "TIMESTAMPTZ"

    def __init__(self, url: str) -> None:
        super().__init__(PostgresStore(url))


class KeyRegistryProjection(Projection[KeyRegistryView]):
    """Every virtual key ever created."""

    def process_batch(
        self, events: Sequence[tuple[int, EventEnvelope]], tracking: Tracking
    ) -> None:
        records: list[KeyRecord] = []
        for _, envelope in events:
            self.process_event(envelope, records)
        self.view.add_keys_with_tracking(records, tracking)

    @staticmethod
    def process_event(envelope: EventEnvelope, records: list[KeyRecord]) -> None:
        match envelope.type:
            case KeyCreated.TYPE:
                created = decode_as(envelope, KeyCreated)
                if created is not None:
                    records.append(KeyRecord.from_event(created, envelope.occurred_at))
            case _:
                pass  # every other event only advances the position


def _utc(moment: datetime) -> datetime:
    """``moment`` in UTC (a naive time is taken as UTC, never as local time)."""
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)
