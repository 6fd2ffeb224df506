"""The projections package's public surface is pinned: ingress and the CLI import only these."""

from __future__ import annotations

import projections


def test_public_names_are_pinned() -> None:
    assert sorted(projections.__all__) == sorted([
        "PROJECTION_NAMES", "KeyRecord", "KeyRegistryProjection", "KeyRegistryView",
        "PostgresKeyRegistryView", "PostgresSpendQueries", "PostgresSpendView", "Projection",
        "ProjectionConflict", "ProjectionRunner", "SQLiteKeyRegistryView", "SQLiteSpendQueries",
        "SQLiteSpendView", "SpendByKeyDay", "SpendQueries", "SpendRow", "SpendView",
        "StoreUnavailable", "Tracking", "View", "open_projection", "open_projections",
        "open_queries",
    ])
    assert all(hasattr(projections, name) for name in projections.__all__)
