"""Where read models live: a SQLite file or a Postgres database, plus each projection's position.

A view writes its rows and its projection's position in one transaction of its store, so an
event is applied exactly once: after a crash either both are committed or neither is. The position
row is also the guard against two runners on one view: advancing it checks the previous value, and
a runner that lost the race gets :class:`ProjectionConflict` and its transaction is rolled back.

These stores are synchronous; a projection runs them in its own thread.
"""

from __future__ import annotations

import contextlib
import sqlite3
from abc import ABC, abstractmethod
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any, ClassVar, Protocol

import psycopg

__all__ = [
    "Cursor",
    "PostgresStore",
    "ProjectionConflict",
    "SQLiteStore",
    "Store",
    "StoreUnavailable",
    "Tracking",
]


class StoreUnavailable(Exception):
    """The projection store cannot be reached now (database down or locked). Retry later."""


class ProjectionConflict(Exception):
    """Another runner advanced this projection first; the write was rolled back."""


@dataclass(frozen=True, slots=True)
class Tracking:
    """Where a batch moves a projection in the notification log: ``previous`` → ``position``."""

    projection: str
    previous: int
    position: int


class Cursor(Protocol):
    """The part of a DB-API cursor that views use (sqlite3 and psycopg both provide it)."""

    @property
    def rowcount(self) -> int: ...

    def execute(self, query: Any, params: Any = ..., /) -> Any: ...

    def executemany(self, query: Any, params_seq: Any, /) -> Any: ...

    def fetchall(self) -> list[Any]: ...


_TRACKING_DDL = (
    "CREATE TABLE IF NOT EXISTS projection_tracking "
    "(projection TEXT PRIMARY KEY, position BIGINT NOT NULL)"
)


class Store(ABC):
    """One connection to a projection database, used by one thread at a time."""

    placeholder: ClassVar[str]
    """The driver's parameter marker (``?`` or ``%s``)."""

    @abstractmethod
    def transaction(self) -> contextlib.AbstractContextManager[Cursor]:
        """A cursor in a transaction: committed on success, rolled back on any error.

        Raises:
            StoreUnavailable: the database cannot be reached or is locked.
        """

    @abstractmethod
    def close(self) -> None:
        """Close the connection."""

    def select(self, query: str, params: Sequence[Any] = ()) -> list[Any]:
        """Rows of a read-only ``query``."""
        with self.transaction() as cursor:
            cursor.execute(query, params)
            return cursor.fetchall()

    def create_tracking(self, cursor: Cursor, projection: str) -> None:
        """Create the position table, and ``projection``'s position at 0 if it has none."""
        cursor.execute(_TRACKING_DDL)
        cursor.execute(
            "INSERT INTO projection_tracking (projection, position) "
            f"VALUES ({self.placeholder}, 0) ON CONFLICT (projection) DO NOTHING",
            (projection,),
        )

    def reset_tracking(self, cursor: Cursor, projection: str) -> None:
        """Set ``projection``'s position back to 0 (it will replay from the start)."""
        cursor.execute(
            "INSERT INTO projection_tracking (projection, position) "
            f"VALUES ({self.placeholder}, 0) "
            "ON CONFLICT (projection) DO UPDATE SET position = 0",
            (projection,),
        )

    def position(self, projection: str) -> int:
        """The last notification position ``projection`` applied (0: none)."""
        rows = self.select(
            f"SELECT position FROM projection_tracking WHERE projection = {self.placeholder}",
            (projection,),
        )
        return int(rows[0][0]) if rows else 0

    def advance(self, cursor: Cursor, tracking: Tracking) -> None:
        """Move the position inside the caller's transaction, first, so it also takes the lock.

        Raises:
            ProjectionConflict: the stored position is not ``tracking.previous``.
        """
        mark = self.placeholder
        cursor.execute(
            f"UPDATE projection_tracking SET position = {mark} "
            f"WHERE projection = {mark} AND position = {mark}",
            (tracking.position, tracking.projection, tracking.previous),
        )
        if cursor.rowcount != 1:
            raise ProjectionConflict(
                f"projection {tracking.projection!r} is no longer at {tracking.previous}"
            )


class SQLiteStore(Store):
    """A projection database in a SQLite file (standalone mode)."""

    placeholder = "?"

    def __init__(self, path: str) -> None:
        self.path = path
        try:
            # NOTE: check_same_thread=False because a runner's thread pool may hand the connection
            # to another thread between calls; it is still used by one thread at a time.
            self._conn = sqlite3.connect(
                path, timeout=10.0, isolation_level=None, check_same_thread=False
            )
            self._conn.execute("PRAGMA journal_mode=WAL")
            # PERF: rows and position commit together, so a power loss can only roll both back;
            # NORMAL skips an fsync per commit without risking a half-applied batch.
            self._conn.execute("PRAGMA synchronous=NORMAL")
        except sqlite3.Error as exc:
            raise StoreUnavailable(f"projection store unavailable (SQLite at {path})") from exc

    @contextlib.contextmanager
    def transaction(self) -> Iterator[Cursor]:
        try:
            cursor = self._conn.cursor()
            cursor.execute("BEGIN IMMEDIATE")
            try:
                yield cursor
            except BaseException:
                self._conn.rollback()
                raise
            self._conn.commit()
        except sqlite3.OperationalError as exc:
            if not _is_unavailable(exc):
                raise
            raise StoreUnavailable(f"projection store unavailable (SQLite at {self.path})") from exc

    def select(self, query: str, params: Sequence[Any] = ()) -> list[Any]:
        # PERF: a read needs no write lock; BEGIN IMMEDIATE would block the other projections'
        # writers on the same file for nothing.
        try:
            return self._conn.execute(query, params).fetchall()
        except sqlite3.OperationalError as exc:
            if not _is_unavailable(exc):
                raise
            raise StoreUnavailable(f"projection store unavailable (SQLite at {self.path})") from exc

    def close(self) -> None:
        self._conn.close()


def _is_unavailable(exc: sqlite3.Error) -> bool:
    """Busy, locked, unopenable or failing storage, as opposed to a wrong statement."""
    name = getattr(exc, "sqlite_errorname", "")
    return name.startswith(("SQLITE_BUSY", "SQLITE_LOCKED", "SQLITE_CANTOPEN", "SQLITE_IOERR"))


class PostgresStore(Store):
    """A projection database in Postgres (distributed mode); reconnects after a lost connection."""

    placeholder = "%s"

    def __init__(self, url: str) -> None:
        self._url = url
        self._conn: psycopg.Connection[Any] | None = None
        self._connection()  # fail at startup, not at the first event

    @contextlib.contextmanager
    def transaction(self) -> Iterator[Cursor]:
        try:
            conn = self._connection()
            with conn.transaction(), conn.cursor() as cursor:
                yield cursor
        except psycopg.OperationalError as exc:
            self._discard()
            raise StoreUnavailable(f"projection store unavailable ({self._where()})") from exc

    def close(self) -> None:
        self._discard()

    def _connection(self) -> psycopg.Connection[Any]:
        if self._conn is None or self._conn.closed:
            try:
                self._conn = psycopg.connect(self._url, autocommit=True, connect_timeout=5)
            except psycopg.OperationalError as exc:
                raise StoreUnavailable(f"projection store unavailable ({self._where()})") from exc
        return self._conn

    def _discard(self) -> None:
        if self._conn is not None:
            self._conn.close()
            self._conn = None

    def _where(self) -> str:
        info = psycopg.conninfo.conninfo_to_dict(self._url)
        return f"PostgreSQL at {info.get('host')}:{info.get('port', 5432)}/{info.get('dbname')}"
