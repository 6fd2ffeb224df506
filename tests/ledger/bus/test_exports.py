"""``ledger.bus`` declares its surface; other packages import only these names."""

from __future__ import annotations

import ledger.bus


def test_public_names() -> None:
    assert sorted(ledger.bus.__all__) == [
        "Bus",
        "BusMessage",
        "BusUnavailable",
        "Consumer",
        "Delivery",
        "LocalBus",
        "NatsBus",
        "Outbox",
    ]
    for name in ledger.bus.__all__:
        assert getattr(ledger.bus, name).__module__.startswith("ledger.bus.")
