"""Projections by name: what ``llmux projector`` runs and ``llmux projections rebuild`` names."""

from __future__ import annotations

from typing import Any

from projections.base import Projection
from projections.control import ControlProjection, PostgresControlView, SQLiteControlView
from projections.keys import KeyRegistryProjection, PostgresKeyRegistryView, SQLiteKeyRegistryView
from projections.scope_spend import PostgresScopeSpendView, ScopeSpend, SQLiteScopeSpendView
from projections.spend import PostgresSpendView, SpendByKeyDay, SQLiteSpendView

__all__ = ["PROJECTION_NAMES", "open_projection", "open_projections"]

PROJECTION_NAMES = ("spend", "keys", "control", "scope_spend")
"""Every projection, by the name its position is stored under."""


def open_projection(
    name: str, *, sqlite_path: str | None = None, postgres_url: str | None = None
) -> Projection[Any]:
    """The projection ``name`` with its view in a SQLite file or a Postgres database.

    Raises:
        ValueError: unknown ``name``, or not exactly one of ``sqlite_path`` and ``postgres_url``.
        StoreUnavailable: the store cannot be opened; the message names it (never a password).
    """
    if (sqlite_path is None) == (postgres_url is None):
        raise ValueError("open_projection: give exactly one of sqlite_path and postgres_url")
    match name, sqlite_path, postgres_url:
        case "spend", str(path), None:
            return SpendByKeyDay(SQLiteSpendView(path))
        case "spend", None, str(url):
            return SpendByKeyDay(PostgresSpendView(url))
        case "keys", str(path), None:
            return KeyRegistryProjection(SQLiteKeyRegistryView(path))
        case "keys", None, str(url):
            return KeyRegistryProjection(PostgresKeyRegistryView(url))
        case "control", str(path), None:
            return ControlProjection(SQLiteControlView(path))
        case "control", None, str(url):
            return ControlProjection(PostgresControlView(url))
        case "scope_spend", str(path), None:
            return ScopeSpend(SQLiteScopeSpendView(path))
        case "scope_spend", None, str(url):
            return ScopeSpend(PostgresScopeSpendView(url))
    raise ValueError(f"unknown projection {name!r}; known: {', '.join(PROJECTION_NAMES)}")


def open_projections(
    *, sqlite_path: str | None = None, postgres_url: str | None = None
) -> list[Projection[Any]]:
    """Every projection (each with its own connection to the store)."""
    return [
        open_projection(name, sqlite_path=sqlite_path, postgres_url=postgres_url)
        for name in PROJECTION_NAMES
    ]
