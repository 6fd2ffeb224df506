"""The ledger application: records event envelopes in the event store and reads them back in order.

``eventsourcing`` is synchronous, and its Postgres recorder serializes every writer with a table
lock, so the ledger writes whole batches in one transaction (group commit) from one worker thread.
Recording is idempotent by envelope id: a batch containing events already stored is written again
without them. Readers (projections, audit) page through the notification log by position.

Configuration arrives only through :func:`open_ledger`'s arguments: the application never reads or
writes ``os.environ`` (the library's default would merge it in).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from typing import Any
from urllib.parse import unquote, urlparse
from uuid import UUID

import psycopg
from eventsourcing.application import Application
from eventsourcing.persistence import (
    IntegrityError,
    InterfaceError,
    Notification,
    OperationalError,
    ProgrammingError,
)
from eventsourcing.utils import Environment
from psycopg import sql

from ledger.entries import RECORDED_TOPIC
from ledger.entry_codec import to_envelope, to_stored_events
from schemas.events import EventEnvelope

__all__ = ["LedgerApp", "LedgerUnavailable", "RecordedListener", "open_ledger"]

RecordedListener = Callable[[Sequence[tuple[int, EventEnvelope]]], None]
"""Told the ``(position, envelope)`` pairs of each batch the ledger app commits."""


_CREATE_ATTEMPTS = 3


class LedgerUnavailable(Exception):
    """The event store cannot be reached now (database down, locked, misconfigured). Retry later."""


@contextmanager
def _store_errors(store: str) -> Iterator[None]:
    # NOTE: the library already maps sqlite3/psycopg errors to its own tree; we translate once more
    # so nothing above the ledger names a third-party exception.
    try:
        yield
    except (OperationalError, InterfaceError, psycopg.OperationalError) as exc:
        raise LedgerUnavailable(f"event store unavailable ({store}): {type(exc).__name__}") from exc


class LedgerApp(Application[UUID]):
    """Event store of every envelope, one :class:`LedgerEntry` per event."""

    name = "Ledger"
    """Prefix of the Postgres table (``ledger_events``)."""

    def __init__(self, env: Mapping[str, str], *, store: str = "event store") -> None:
        self.store = store
        """A human description of where events are stored (for error messages; no secrets)."""
        self._listeners: list[RecordedListener] = []
        for attempt in range(_CREATE_ATTEMPTS):
            try:
                with _store_errors(store):
                    super().__init__(env=dict(env))
                break
            except (IntegrityError, ProgrammingError) as exc:
                # NOTE: two processes (ledger and projector) starting together race on Postgres'
                # CREATE TABLE IF NOT EXISTS; the loser gets a unique violation on pg_type or
                # "relation already exists". The table exists by then, so constructing again
                # succeeds.
                lost_race = isinstance(exc, IntegrityError) or "already exists" in str(exc)
                if not lost_race or attempt == _CREATE_ATTEMPTS - 1:
                    raise
        if self.mapper.cipher is not None or self.mapper.compressor is not None:
            # NOTE: entries are written as the plain JSON ``ledger.entry_codec`` builds.
            self.close()
            raise ValueError("the ledger does not support a cipher or a compressor")

    def construct_env(self, name: str, env: Mapping[str, str] | None = None) -> Environment:
        # NOTE: the base class would merge os.environ in; configuration comes only from ``env``.
        return Environment(name, dict(env or {}))

    def record(self, envelopes: Sequence[EventEnvelope]) -> int:
        """Store every envelope not stored yet, in one transaction; returns how many were new.

        Raises:
            LedgerUnavailable: the store cannot be written now; nothing of this call is lost if
                it is retried.
        """
        fresh = _unique(envelopes)
        if not fresh:
            return 0
        with _store_errors(self.store):
            try:
                return self._save(fresh)
            except IntegrityError:
                return self._record_new_only(fresh)

    def add_listener(self, listener: RecordedListener) -> None:
        """Tell ``listener`` every batch this app records, right after its commit.

        It is called on the recording thread with the batch's ``(position, envelope)`` pairs (as
        ``read_envelopes`` would return them), so it must be quick and must not raise. Batches
        recorded by other processes or other app objects are not seen.
        """
        self._listeners.append(listener)

    def read_envelopes(self, start_position: int, limit: int) -> list[tuple[int, EventEnvelope]]:
        """Up to ``limit`` ``(position, envelope)`` pairs with ``position >= start_position``.

        Positions are the notification log's ids: increasing in recording order, possibly with
        gaps. Each envelope carries the payload bytes exactly as published.
        """
        with _store_errors(self.store):
            notifications = self.recorder.select_notifications(
                start=start_position, limit=limit, topics=(RECORDED_TOPIC,)
            )
            return [(item.id, self._to_envelope(item)) for item in notifications]

    def max_position(self) -> int:
        """Position of the newest notification (0 when nothing was recorded yet)."""
        with _store_errors(self.store):
            return self.recorder.max_notification_id() or 0

    def _save(self, envelopes: Sequence[EventEnvelope]) -> int:
        # PERF: stored events built directly instead of through ``self.save(*aggregates)``; the
        # recorder (notification log, unique entry id and version) is the library's (see
        # ``ledger.entry_codec``: 43 -> 13 µs per event at 2,000 events/s).
        positions = self.recorder.insert_events(to_stored_events(envelopes))
        if self._listeners and positions:
            entries = list(zip(positions, envelopes, strict=True))
            for listener in self._listeners:
                listener(entries)
        return len(envelopes)

    def _record_new_only(self, envelopes: Sequence[EventEnvelope]) -> int:
        # PERF: a redelivered batch is usually entirely stored already: one read per event and no
        # write beats one failing transaction per event under the table lock.
        new = [envelope for envelope in envelopes if not self._is_recorded(envelope.id)]
        try:
            return self._save(new) if new else 0
        except IntegrityError:  # another writer stored some of them meanwhile
            return sum(self._record_one(envelope) for envelope in new)

    def _record_one(self, envelope: EventEnvelope) -> int:
        try:
            return self._save([envelope])
        except IntegrityError:
            return 0

    def _is_recorded(self, entry_id: UUID) -> bool:
        return bool(self.recorder.select_events(entry_id, limit=1))

    def _to_envelope(self, notification: Notification) -> EventEnvelope:
        envelope = to_envelope(notification)
        if envelope is None:  # a state the fast decoder does not know: the library's mapper
            recorded: Any = self.mapper.to_domain_event(notification)
            envelope = recorded.to_envelope()
        return envelope


def _unique(envelopes: Sequence[EventEnvelope]) -> list[EventEnvelope]:
    """First occurrence of each id: one duplicate inside a batch would fail the whole batch."""
    seen: dict[UUID, EventEnvelope] = {}
    for envelope in envelopes:
        seen.setdefault(envelope.id, envelope)
    return list(seen.values())


def open_ledger(
    *,
    sqlite_path: str | None = None,
    postgres_url: str | None = None,
    postgres_schema: str | None = None,
) -> LedgerApp:
    """The ledger on a SQLite file (standalone) or a Postgres database (distributed).

    Args:
        sqlite_path: file of the event store, e.g. ``<data_dir>/ledger.db`` (its directory must
            exist; the file is created).
        postgres_url: ``postgresql://user:password@host:port/dbname``.
        postgres_schema: Postgres schema of the tables (created if absent); ``public`` if None.

    Raises:
        ValueError: not exactly one of ``sqlite_path`` and ``postgres_url`` was given.
        LedgerUnavailable: the store cannot be opened; the message names it (never a password).
    """
    if (sqlite_path is None) == (postgres_url is None):
        raise ValueError("open_ledger: give exactly one of sqlite_path and postgres_url")
    if sqlite_path is not None:
        return LedgerApp(sqlite_env(sqlite_path), store=f"SQLite at {sqlite_path}")
    assert postgres_url is not None
    env = postgres_env(postgres_url, schema=postgres_schema)
    store = f"PostgreSQL at {env['POSTGRES_HOST']}:{env['POSTGRES_PORT']}/{env['POSTGRES_DBNAME']}"
    with _store_errors(store):
        _prepare_postgres(postgres_url, postgres_schema)
    return LedgerApp(env, store=store)


def sqlite_env(path: str) -> dict[str, str]:
    """The ``eventsourcing`` environment of an event store in the SQLite file ``path``."""
    return {
        "PERSISTENCE_MODULE": "eventsourcing.sqlite",
        "SQLITE_DBNAME": path,
        "SQLITE_LOCK_TIMEOUT": "10",
    }


def postgres_env(url: str, *, schema: str | None = None) -> dict[str, str]:
    """The ``eventsourcing`` environment of an event store in the Postgres database at ``url``."""
    parsed = urlparse(url)
    if parsed.scheme not in ("postgres", "postgresql"):
        raise ValueError("postgres_url: expected postgresql://user:password@host:port/dbname")
    return {
        "PERSISTENCE_MODULE": "eventsourcing.postgres",
        "POSTGRES_DBNAME": unquote(parsed.path.lstrip("/")) or "postgres",
        "POSTGRES_HOST": parsed.hostname or "127.0.0.1",
        "POSTGRES_PORT": str(parsed.port or 5432),
        "POSTGRES_USER": unquote(parsed.username or "postgres"),
        "POSTGRES_PASSWORD": unquote(parsed.password or ""),
        "POSTGRES_SCHEMA": schema or "",
        "POSTGRES_CONNECT_TIMEOUT": "5",
        # NOTE: one writer thread and one or two readers; the database is shared by many processes.
        "POSTGRES_POOL_SIZE": "2",
        "POSTGRES_MAX_OVERFLOW": "4",
    }


def _prepare_postgres(url: str, schema: str | None) -> None:
    # NOTE: connecting once first fails fast and clearly; the library's pool would wait its full
    # timeout before giving up on an unreachable server.
    with psycopg.connect(url, autocommit=True, connect_timeout=5) as conn:
        if schema:
            conn.execute(sql.SQL("CREATE SCHEMA IF NOT EXISTS {}").format(sql.Identifier(schema)))
