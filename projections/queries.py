"""The only thing ingress reads: async queries over the read models.

Reads never block the event loop: Postgres is read through asyncpg, SQLite in a worker thread. A
read model that does not exist yet (the projector has not started) reads as empty. Failures to
reach the store are translated here, at the boundary, into ``ServiceUnavailable``.
"""

from __future__ import annotations

import asyncio
import sqlite3
from abc import ABC, abstractmethod
from collections.abc import Mapping, Sequence
from datetime import date, datetime
from pathlib import Path
from typing import Any

import asyncpg

from projections.control import CONTROL_TABLES, decode_entity, entities_query
from projections.keys import KEY_COLUMNS, KeyRecord
from projections.scope_spend import epoch_minute, started_query, sum_query
from projections.spend import SpendRow
from schemas.errors import ServiceUnavailable
from schemas.events import EntityState
from schemas.money import format_usd

__all__ = [
    "PostgresSpendQueries",
    "SQLiteSpendQueries",
    "SpendQueries",
    "open_queries",
]

_SPEND_COLUMNS = (
    "key_id, day, requests, prompt_tokens, completion_tokens, cached_tokens, "
    "reasoning_tokens, cost_micros"
)
_SPEND_ORDER = " ORDER BY day DESC, key_id"
_SCOPE_TABLE = "spend_by_scope_minute"
_STARTS_TABLE = "gateway_starts"
_KEYS_QUERY = f"SELECT {', '.join(KEY_COLUMNS)} FROM key_registry ORDER BY key_id"


class SpendQueries(ABC):
    """Reads of the spend and key registry read models."""

    @abstractmethod
    async def spend_by_key(self, key_id: str | None = None) -> list[dict[str, Any]]:
        """Spend rows per key per UTC day, newest day first (then by key id).

        Each row: ``key_id`` (None for calls without a virtual key), ``day`` (``YYYY-MM-DD``),
        ``requests``, ``prompt_tokens``, ``completion_tokens``, ``cached_tokens``,
        ``reasoning_tokens``, ``cost_micros`` (int) and ``cost_usd`` (``"1.234567"``).

        Args:
            key_id: only this key's rows; every key's when None.

        Raises:
            ServiceUnavailable: the projection store cannot be read now.
        """

    @abstractmethod
    async def keys(self) -> list[KeyRecord]:
        """Every key in the registry, ordered by key id.

        Raises:
            ServiceUnavailable: the projection store cannot be read now.
        """

    @abstractmethod
    async def control_entities(self) -> list[EntityState]:
        """Every organization, team, user, end user and key of the control read model.

        Orgs first, then teams, users, end users and keys, each ordered by id; empty while the
        projector has not created the read model.

        Raises:
            ServiceUnavailable: the projection store cannot be read now.
        """

    @abstractmethod
    async def scope_spend(self, filters: Mapping[str, str], since: datetime) -> int:
        """Micro-dollars spent by the usage matching ``filters`` from the minute of ``since`` on.

        Args:
            filters: column -> value, columns from ``key_id``, ``user_id``, ``team_id``,
                ``org_id``, ``end_user``, ``model`` (the requested model).
            since: start of a budget window (its whole first minute is counted).

        Raises:
            ServiceUnavailable: the projection store cannot be read now.
        """

    @abstractmethod
    async def gateway_start_applied(self, event_id: str) -> bool:
        """Whether the ``scope_spend`` read model has applied the ``gateway.started`` event.

        Raises:
            ServiceUnavailable: the projection store cannot be read now.
        """

    @abstractmethod
    async def aclose(self) -> None:
        """Release connections."""


def _spend_dict(row: SpendRow) -> dict[str, Any]:
    return {
        "key_id": row.key_id or None,
        "day": row.day.isoformat(),
        "requests": row.requests,
        "prompt_tokens": row.prompt_tokens,
        "completion_tokens": row.completion_tokens,
        "cached_tokens": row.cached_tokens,
        "reasoning_tokens": row.reasoning_tokens,
        "cost_micros": row.cost_micros,
        "cost_usd": format_usd(row.cost_micros),
    }


def _spend_row(row: Sequence[Any]) -> SpendRow:
    day = row[1] if isinstance(row[1], date) else date.fromisoformat(row[1])
    return SpendRow(row[0], day, *row[2:])


class SQLiteSpendQueries(SpendQueries):
    """Reads a SQLite projection file through a fresh read-only connection in a worker thread."""

    def __init__(self, path: str) -> None:
        self._path = Path(path)

    async def spend_by_key(self, key_id: str | None = None) -> list[dict[str, Any]]:
        query = f"SELECT {_SPEND_COLUMNS} FROM spend_by_key_day"
        params: tuple[str, ...] = ()
        if key_id is not None:
            query, params = query + " WHERE key_id = ?", (key_id,)
        query += _SPEND_ORDER
        rows = await asyncio.to_thread(self._select, "spend_by_key_day", query, params)
        return [_spend_dict(_spend_row(row)) for row in rows]

    async def keys(self) -> list[KeyRecord]:
        rows = await asyncio.to_thread(self._select, "key_registry", _KEYS_QUERY, ())
        return [KeyRecord.from_row(row) for row in rows]

    async def control_entities(self) -> list[EntityState]:
        found: list[EntityState] = []
        for table in CONTROL_TABLES.values():
            rows = await asyncio.to_thread(self._select, table.name, entities_query(table), ())
            found.extend(decode_entity(table, row[0]) for row in rows)
        return found

    async def scope_spend(self, filters: Mapping[str, str], since: datetime) -> int:
        query = sum_query(list(filters), lambda _: "?")
        params = (*filters.values(), epoch_minute(since))
        rows = await asyncio.to_thread(self._select, _SCOPE_TABLE, query, params)
        return int(rows[0][0]) if rows else 0

    async def gateway_start_applied(self, event_id: str) -> bool:
        rows = await asyncio.to_thread(self._select, _STARTS_TABLE, started_query("?"),
                                       (event_id,))
        return bool(rows)

    async def aclose(self) -> None:
        return None  # a connection is opened per read

    def _select(self, table: str, query: str, params: Sequence[Any]) -> list[Any]:
        if not self._path.exists():
            return []
        try:
            conn = sqlite3.connect(f"{self._path.resolve().as_uri()}?mode=ro", uri=True, timeout=5)
            try:
                if not conn.execute(
                    "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = ?", (table,)
                ).fetchall():
                    return []
                return conn.execute(query, params).fetchall()
            finally:
                conn.close()
        except sqlite3.OperationalError as exc:
            raise ServiceUnavailable("the spend store cannot be read now", retry_after_s=1) from exc


class PostgresSpendQueries(SpendQueries):
    """Reads Postgres read models through an asyncpg pool, opened on first use."""

    def __init__(self, url: str, *, max_connections: int = 4) -> None:
        self._url = url
        self._max_connections = max_connections
        self._pool: asyncpg.Pool | None = None
        self._opening = asyncio.Lock()

    async def spend_by_key(self, key_id: str | None = None) -> list[dict[str, Any]]:
        query = f"SELECT {_SPEND_COLUMNS} FROM spend_by_key_day"
        params: tuple[str, ...] = ()
        if key_id is not None:
            query, params = query + " WHERE key_id = $1", (key_id,)
        rows = await self._fetch(query + _SPEND_ORDER, *params)
        return [_spend_dict(_spend_row(row)) for row in rows]

    async def keys(self) -> list[KeyRecord]:
        return [KeyRecord.from_row(row) for row in await self._fetch(_KEYS_QUERY)]

    async def control_entities(self) -> list[EntityState]:
        found: list[EntityState] = []
        for table in CONTROL_TABLES.values():
            rows = await self._fetch(entities_query(table))
            found.extend(decode_entity(table, row[0]) for row in rows)
        return found

    async def scope_spend(self, filters: Mapping[str, str], since: datetime) -> int:
        query = sum_query(list(filters), lambda n: f"${n}")
        rows = await self._fetch(query, *filters.values(), epoch_minute(since))
        return int(rows[0][0]) if rows else 0

    async def gateway_start_applied(self, event_id: str) -> bool:
        return bool(await self._fetch(started_query("$1"), event_id))

    async def aclose(self) -> None:
        if self._pool is not None:
            pool, self._pool = self._pool, None
            await pool.close()

    async def _fetch(self, query: str, *params: Any) -> list[Any]:
        try:
            pool = await self._open()
            return list(await pool.fetch(query, *params))
        except asyncpg.UndefinedTableError:
            return []  # the projector has not created the read model yet
        except (OSError, TimeoutError, asyncpg.PostgresConnectionError,
                asyncpg.InterfaceError) as exc:
            raise ServiceUnavailable("the spend store cannot be read now", retry_after_s=1) from exc

    async def _open(self) -> asyncpg.Pool:
        async with self._opening:
            if self._pool is None:
                self._pool = await asyncpg.create_pool(
                    self._url, min_size=1, max_size=self._max_connections, timeout=5
                )
            return self._pool


def open_queries(
    *, sqlite_path: str | None = None, postgres_url: str | None = None
) -> SpendQueries:
    """Queries over the read models in a SQLite file or a Postgres database.

    Raises:
        ValueError: not exactly one of ``sqlite_path`` and ``postgres_url`` was given.
    """
    if (sqlite_path is None) == (postgres_url is None):
        raise ValueError("open_queries: give exactly one of sqlite_path and postgres_url")
    if sqlite_path is not None:
        return SQLiteSpendQueries(sqlite_path)
    assert postgres_url is not None
    return PostgresSpendQueries(postgres_url)
