"""Fixtures for the bus tests (helpers live in ``support.py``)."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.ledger.bus.support import NATS_SERVER, NatsServerProcess


@pytest.fixture
def nats_server(tmp_path: Path) -> Iterator[NatsServerProcess]:
    if not os.path.exists(NATS_SERVER):
        pytest.fail(f"nats-server binary not found at {NATS_SERVER}")
    server = NatsServerProcess(tmp_path / "nats-store")
    server.start()
    yield server
    server.kill()
