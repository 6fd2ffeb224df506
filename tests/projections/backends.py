"""Where contract tests keep the ledger and the views: SQLite files, or one fresh Postgres DB."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from ledger import LedgerApp, open_ledger
from projections import Projection, open_projection


@dataclass(frozen=True)
class Stores:
    ledger: dict[str, str]
    """Keyword arguments of ``open_ledger``."""
    views: dict[str, str]
    """Keyword arguments of ``open_projection`` and ``open_queries``."""


OpenProjection = Callable[[str], Projection[Any]]


class ProjectionFixtures:
    """The ledger and a projection opener on ``stores``, which each backend class provides."""

    @pytest.fixture
    def stores(self) -> Stores:
        raise NotImplementedError

    @pytest.fixture
    def ledger(self, stores: Stores) -> Iterator[LedgerApp]:
        app = open_ledger(**stores.ledger)
        yield app
        app.close()

    @pytest.fixture
    def projection(self, stores: Stores) -> Iterator[OpenProjection]:
        opened: list[Projection[Any]] = []

        def open_one(name: str) -> Projection[Any]:
            opened.append(open_projection(name, **stores.views))
            return opened[-1]

        yield open_one
        for item in opened:
            item.view.close()


class SQLiteBackend:
    @pytest.fixture
    def stores(self, tmp_path: Path) -> Stores:
        return Stores(ledger={"sqlite_path": str(tmp_path / "ledger.db")},
                      views={"sqlite_path": str(tmp_path / "projections.db")})


@pytest.mark.services
class PostgresBackend:
    @pytest.fixture
    def stores(self, postgres_database: str) -> Stores:
        return Stores(ledger={"postgres_url": postgres_database},
                      views={"postgres_url": postgres_database})
