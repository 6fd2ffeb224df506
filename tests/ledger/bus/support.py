"""Bus test helpers: a private nats-server a test may kill and restart, envelopes, bounded waits.

Fault tests never touch the shared NATS on :4222; they run their own server on a free port with a
store directory under ``tmp_path``, so "NATS went down" is a real outage.
"""

from __future__ import annotations

import asyncio
import contextlib
import shutil
import socket
import subprocess
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import msgspec
import nats
import pytest

from ledger.bus import Consumer, Delivery, NatsBus
from schemas.events import EventEnvelope

NATS_SERVER = shutil.which("nats-server") or "/usr/sbin/nats-server"
_READY_TIMEOUT_S = 10.0


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class NatsServerProcess:
    """One nats-server with JetStream on a fixed port and store dir, across kill/start cycles."""

    def __init__(self, store_dir: Path) -> None:
        self.port = free_port()
        self.url = f"nats://127.0.0.1:{self.port}"
        self._store_dir = store_dir
        self._proc: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        args = [
            NATS_SERVER,
            "-a",
            "127.0.0.1",
            "-p",
            str(self.port),
            "-js",
            "-sd",
            str(self._store_dir),
        ]
        self._proc = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + _READY_TIMEOUT_S
        while time.monotonic() < deadline:
            try:
                with socket.create_connection(("127.0.0.1", self.port), 0.2):
                    return
            except OSError:
                time.sleep(0.02)
        self.kill()
        raise RuntimeError(f"nats-server did not listen on {self.port}")

    def kill(self) -> None:
        """SIGKILL: no graceful shutdown, like a crashed or partitioned server."""
        if self._proc is not None:
            self._proc.kill()
            self._proc.wait()
            self._proc = None


def make_envelope(n: int) -> EventEnvelope:
    """A small valid envelope; ``n`` ends up in the payload."""
    return EventEnvelope(
        id=uuid.uuid4(),
        type="usage.recorded",
        version=1,
        occurred_at=datetime.now(UTC),
        actor="test",
        request_id=f"req-{n}",
        payload=msgspec.Raw(msgspec.json.encode({"n": n})),
    )


async def fetch_all(consumer: Consumer, expected: int, timeout_s: float = 10.0) -> list[Delivery]:
    """Fetch until ``expected`` deliveries arrived (bounded), then once more to catch extras."""
    deliveries: list[Delivery] = []
    deadline = time.monotonic() + timeout_s
    while len(deliveries) < expected and time.monotonic() < deadline:
        deliveries += await consumer.fetch(500, 0.5)
    deliveries += await consumer.fetch(500, 0.3)
    return deliveries


async def eventually(condition: Callable[[], bool], timeout_s: float = 10.0) -> None:
    """Wait (bounded) until ``condition()`` holds; fail the test otherwise."""
    deadline = time.monotonic() + timeout_s
    while not condition():
        if time.monotonic() > deadline:
            pytest.fail("condition not reached in time")
        await asyncio.sleep(0.02)


async def delete_stream(url: str, stream: str) -> None:
    """Delete a JetStream stream a test created, if it is still there."""
    nc = await nats.connect(url)
    try:
        await nc.jetstream().delete_stream(stream)
    except nats.js.errors.NotFoundError:
        pass
    finally:
        await nc.close()


@contextlib.asynccontextmanager
async def nats_buses(nats_url: str, namespace: str
                     ) -> AsyncIterator[Callable[..., Awaitable[NatsBus]]]:
    """A factory of started ``NatsBus``es on the test's own stream; closed and deleted after."""
    buses: list[NatsBus] = []

    async def make(**options: Any) -> NatsBus:
        bus = NatsBus(nats_url, stream=namespace.upper(), subject_prefix=namespace, **options)
        await bus.start()
        buses.append(bus)
        return bus

    try:
        yield make
    finally:
        for bus in buses:
            await bus.aclose()
        await delete_stream(nats_url, namespace.upper())
