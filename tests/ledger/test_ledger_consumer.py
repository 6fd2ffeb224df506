"""The ledger consumer on a real bus (the in-process ``LocalBus``), into SQLite and Postgres.

Record, then ack: a crash in between redelivers the batch, and nothing is lost or stored twice.
"""

from __future__ import annotations

import asyncio
import os
import sqlite3
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest

from ledger import (
    BusMessage,
    LedgerApp,
    LedgerConsumer,
    LedgerUnavailable,
    LocalBus,
    open_ledger,
)
from ledger.application import sqlite_env
from schemas.events import EventEnvelope, decode_envelope, encode_envelope
from tests.projections.events import mixed_log

DURABLE = "ledger"
ALL_EVENTS = "llmux.>"


def _messages(envelopes: list[EventEnvelope]) -> list[BusMessage]:
    return [
        BusMessage(subject=f"llmux.{e.type}", data=encode_envelope(e), msg_id=str(e.id))
        for e in envelopes
    ]


def _stored_wire(app: LedgerApp) -> list[bytes]:
    return [encode_envelope(envelope) for _, envelope in app.read_envelopes(1, 10_000)]


async def _drain(consumer: LedgerConsumer, limit: int = 100) -> int:
    handled = 0
    for _ in range(limit):  # bounded: each pass handles a batch or finds the bus empty
        count = await consumer.run_once()
        if count == 0:
            return handled
        handled += count
    raise AssertionError("the consumer never went idle")


class ConsumerContract:
    @pytest.fixture
    def location(self) -> dict[str, str]:
        raise NotImplementedError

    @pytest.fixture
    def ledger(self, location: dict[str, str]) -> Iterator[LedgerApp]:
        app = open_ledger(**location)
        yield app
        app.close()

    @pytest.fixture
    async def bus(self) -> AsyncIterator[LocalBus]:
        bus = LocalBus(path=None)
        await bus.start()
        yield bus
        await bus.aclose()

    async def test_batches_are_recorded_then_acked(self, ledger: LedgerApp, bus: LocalBus) -> None:
        events = mixed_log(45)
        await bus.publish(_messages(events))
        woken: list[int] = []
        consumer = LedgerConsumer(ledger, await bus.consumer(DURABLE, ALL_EVENTS), batch_size=10,
                                  batch_wait_s=0.01, on_recorded=lambda: woken.append(1))
        assert await _drain(consumer) == 45
        assert consumer.recorded == 45 and consumer.duplicates == 0
        assert len(woken) == 5  # one wake-up per batch that stored something
        assert _stored_wire(ledger) == [encode_envelope(e) for e in events]
        again = await bus.consumer(DURABLE, ALL_EVENTS)
        assert await again.fetch(100, 0.01) == []  # everything was acked

    async def test_crash_between_record_and_ack_loses_and_duplicates_nothing(
        self, ledger: LedgerApp, bus: LocalBus
    ) -> None:
        events = mixed_log(30)
        await bus.publish(_messages(events))
        crashed = await bus.consumer(DURABLE, ALL_EVENTS)
        deliveries = await crashed.fetch(12, 0.01)
        ledger.record([decode_envelope(d.data) for d in deliveries])  # ...and then no ack
        await crashed.aclose()

        restarted = LedgerConsumer(ledger, await bus.consumer(DURABLE, ALL_EVENTS),
                                   batch_size=7, batch_wait_s=0.01)
        assert await _drain(restarted) == 30  # the 12 come again, with the 18 never fetched
        assert restarted.recorded == 18 and restarted.duplicates == 12
        assert _stored_wire(ledger) == [encode_envelope(e) for e in events]

    async def test_a_message_that_is_not_an_envelope_is_logged_and_acked(
        self, ledger: LedgerApp, bus: LocalBus, caplog: pytest.LogCaptureFixture
    ) -> None:
        events = mixed_log(6)
        garbage = BusMessage(subject="llmux.usage.recorded", data=b'{"id": 1', msg_id="junk-1")
        await bus.publish([*_messages(events[:3]), garbage, *_messages(events[3:])])
        consumer = LedgerConsumer(ledger, await bus.consumer(DURABLE, ALL_EVENTS),
                                  batch_wait_s=0.01)
        assert await _drain(consumer) == 7
        assert (consumer.recorded, consumer.rejected) == (6, 1)
        assert _stored_wire(ledger) == [encode_envelope(e) for e in events]
        assert any("not an event envelope" in r.getMessage() for r in caplog.records)
        assert await (await bus.consumer(DURABLE, ALL_EVENTS)).fetch(10, 0.01) == []

    async def test_run_records_until_stopped(self, ledger: LedgerApp, bus: LocalBus) -> None:
        consumer = LedgerConsumer(ledger, await bus.consumer(DURABLE, ALL_EVENTS),
                                  batch_size=8, batch_wait_s=0.02)
        stop = asyncio.Event()
        task = asyncio.create_task(consumer.run(stop))
        events = mixed_log(20)
        try:
            await bus.publish(_messages(events[:10]))
            await bus.publish(_messages(events[10:]))
            for _ in range(500):  # bounded wait: at most ~5 s
                if consumer.recorded == 20:
                    break
                await asyncio.sleep(0.01)
        finally:
            stop.set()
            await asyncio.wait_for(task, 5)
        assert consumer.recorded == 20
        assert _stored_wire(ledger) == [encode_envelope(e) for e in events]
        await consumer.aclose()

    async def test_batches_that_keep_up_are_recorded_politely_and_full_ones_are_not(
        self, ledger: LedgerApp, bus: LocalBus
    ) -> None:
        # Standalone: a partial batch waits for an idle core; a full one means more is waiting.
        lanes: list[tuple[int, int]] = []
        ledger.add_listener(lambda entries: lanes.append((len(entries), os.sched_getscheduler(0))))
        await bus.publish(_messages(mixed_log(25)))
        consumer = LedgerConsumer(ledger, await bus.consumer(DURABLE, ALL_EVENTS), batch_size=10,
                                  batch_wait_s=0.01, yield_to_requests=True)
        assert await _drain(consumer) == 25
        await consumer.aclose()
        assert lanes == [(10, os.SCHED_OTHER), (10, os.SCHED_OTHER), (5, os.SCHED_IDLE)]


class TestConsumerIntoSQLite(ConsumerContract):
    @pytest.fixture
    def location(self, tmp_path: Path) -> dict[str, str]:
        return {"sqlite_path": str(tmp_path / "ledger.db")}


@pytest.mark.services
class TestConsumerIntoPostgres(ConsumerContract):
    @pytest.fixture
    def location(self, postgres_database: str) -> dict[str, str]:
        return {"postgres_url": postgres_database}


async def test_a_locked_store_is_retried_without_acking(tmp_path: Path) -> None:
    path = str(tmp_path / "ledger.db")
    # NOTE: 1 s is the shortest lock wait the library allows (0 means its default of 5 s).
    app = LedgerApp({**sqlite_env(path), "SQLITE_LOCK_TIMEOUT": "1"}, store="test store")
    bus = LocalBus(path=None)
    await bus.start()
    blocker = sqlite3.connect(path, isolation_level=None)
    try:
        events = mixed_log(5)
        await bus.publish(_messages(events))
        consumer = LedgerConsumer(app, await bus.consumer(DURABLE, ALL_EVENTS), batch_wait_s=0.01)
        blocker.execute("BEGIN EXCLUSIVE")  # another writer holds the store
        with pytest.raises(LedgerUnavailable, match="test store"):
            await consumer.run_once()
        stop = asyncio.Event()
        task = asyncio.create_task(consumer.run(stop))
        await asyncio.sleep(0.2)
        assert consumer.recorded == 0 and app.max_position() == 0
        blocker.execute("ROLLBACK")
        for _ in range(500):  # bounded wait: at most ~5 s
            if consumer.recorded == 5:
                break
            await asyncio.sleep(0.01)
        stop.set()
        await asyncio.wait_for(task, 5)
        assert consumer.recorded == 5 and consumer.duplicates == 0
        assert _stored_wire(app) == [encode_envelope(e) for e in events]
        await consumer.aclose()
    finally:
        blocker.close()
        app.close()
        await bus.aclose()
