"""The ledger package's public surface is pinned: other packages import only these names."""

from __future__ import annotations

import ledger


def test_public_names_are_pinned() -> None:
    assert sorted(ledger.__all__) == sorted([
        "Bus", "BusMessage", "BusUnavailable", "Consumer", "Delivery", "LedgerApp",
        "LedgerConsumer", "LedgerEntry", "LedgerUnavailable", "LocalBus", "NatsBus", "Outbox",
        "open_ledger",
    ])
    assert all(hasattr(ledger, name) for name in ledger.__all__)
