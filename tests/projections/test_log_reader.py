"""The shared log reader returns exactly what the ledger does, for any runner position, and reads
each range from the store once for all the runners that follow it."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from ledger import LedgerApp, open_ledger
from ledger.application import RecordedListener
from projections import Projection, ProjectionRunner, open_projection
from projections.log_reader import SharedLogReader
from schemas.events import EventEnvelope
from tests.projections.events import expected_spend, mixed_log
from tests.projections.helpers import running, spend_totals, until


class CountingLedger:
    """The ledger, counting the store reads and the events they decode."""

    def __init__(self, app: LedgerApp) -> None:
        self.app = app
        self.reads = 0
        self.decoded = 0

    def read_envelopes(self, start_position: int, limit: int) -> list[tuple[int, EventEnvelope]]:
        entries = self.app.read_envelopes(start_position, limit)
        self.reads += 1
        self.decoded += len(entries)
        return entries

    def add_listener(self, listener: RecordedListener) -> None:
        self.app.add_listener(listener)


@pytest.fixture
def ledger(tmp_path: Path) -> Iterator[LedgerApp]:
    app = open_ledger(sqlite_path=str(tmp_path / "ledger.db"))
    yield app
    app.close()


def _wire(entries: list[tuple[int, EventEnvelope]]) -> list[tuple[int, bytes]]:
    return [(position, bytes(envelope.payload)) for position, envelope in entries]


def test_any_start_and_limit_reads_what_the_ledger_reads(ledger: LedgerApp) -> None:
    ledger.record(mixed_log(90))
    counting = CountingLedger(ledger)
    reader = SharedLogReader(counting, window=40)  # type: ignore[arg-type]  # duck-typed ledger
    last = ledger.max_position()
    starts = [1, 1, 5, 30, 31, 2, 60, 85, last, last + 1, 1, 45, 46, 89]
    for start in starts:
        for limit in (1, 7, 25, 100):
            assert _wire(reader.read_envelopes(start, limit)) == \
                _wire(ledger.read_envelopes(start, limit)), (start, limit)


def test_events_recorded_later_are_read_after_the_cached_ones(ledger: LedgerApp) -> None:
    events = mixed_log(30)
    ledger.record(events[:10])
    reader = SharedLogReader(ledger)
    first = reader.read_envelopes(1, 100)
    assert len(first) == 10
    ledger.record(events[10:])
    rest = reader.read_envelopes(first[-1][0] + 1, 100)
    assert [bytes(e.payload) for _, e in first + rest] == [bytes(e.payload) for e in events]


def test_runners_at_one_position_decode_each_event_once(ledger: LedgerApp) -> None:
    ledger.record(mixed_log(50))
    counting = CountingLedger(ledger)
    reader = SharedLogReader(counting)  # type: ignore[arg-type]  # duck-typed ledger
    for _ in range(4):  # four runners, woken together
        position = 0
        while batch := reader.read_envelopes(position + 1, 20):
            position = batch[-1][0]
    assert counting.decoded == 50


async def test_runners_sharing_reads_build_the_same_views(ledger: LedgerApp,
                                                          tmp_path: Path) -> None:
    events = mixed_log(80)
    ledger.record(events)
    views = str(tmp_path / "projections.db")
    projections: list[Projection[Any]] = [open_projection(name, sqlite_path=views)
                                          for name in ("spend", "keys", "control", "scope_spend")]
    runners = ProjectionRunner.sharing_reads(ledger, projections)
    try:
        counts = await asyncio.gather(*(asyncio.to_thread(r.run_until_caught_up)
                                        for r in runners))
        assert counts == [80] * 4
        assert spend_totals(projections[0]) == expected_spend(events)
        assert all(p.view.position() == ledger.max_position() for p in projections)
    finally:
        for runner in runners:
            await runner.aclose()


def test_batches_the_app_records_are_taken_without_a_store_read(ledger: LedgerApp) -> None:
    events = mixed_log(30)
    ledger.record(events[:10])
    counting = CountingLedger(ledger)
    reader = SharedLogReader(counting)  # type: ignore[arg-type]  # duck-typed ledger
    assert reader.recorded_through() is None
    assert len(reader.read_envelopes(1, 100)) == 10
    ledger.record(events[10:20])
    ledger.record(events[20:])
    through = reader.recorded_through()
    assert through == ledger.max_position()
    for start in (1, 11, 25, through, through + 1):
        assert _wire(reader.read_envelopes(start, 100, through=through)) == \
            _wire(ledger.read_envelopes(start, 100))
    assert _wire(reader.read_envelopes(1, 7, through=through)) == _wire(ledger.read_envelopes(1, 7))
    assert counting.reads == 1
    assert len(reader.read_envelopes(1, 100)) == 30  # without ``through``: the store is asked
    assert counting.reads == 2


def test_a_batch_recorded_elsewhere_is_read_from_the_store(ledger: LedgerApp,
                                                           tmp_path: Path) -> None:
    events = mixed_log(30)
    ledger.record(events[:10])
    counting = CountingLedger(ledger)
    reader = SharedLogReader(counting)  # type: ignore[arg-type]  # duck-typed ledger
    assert len(reader.read_envelopes(1, 100)) == 10
    other = open_ledger(sqlite_path=str(tmp_path / "ledger.db"))  # another writer
    try:
        other.record(events[10:20])
    finally:
        other.close()
    ledger.record(events[20:])  # does not follow the window: not taken
    through = reader.recorded_through()
    assert through == ledger.max_position()
    assert _wire(reader.read_envelopes(1, 100, through=through)) == \
        _wire(ledger.read_envelopes(1, 100))
    assert counting.reads == 2


async def test_runners_woken_after_the_app_recorded_read_memory(ledger: LedgerApp,
                                                                tmp_path: Path) -> None:
    events = mixed_log(60)
    counting = CountingLedger(ledger)
    reader = SharedLogReader(counting)  # type: ignore[arg-type]  # duck-typed ledger
    views = str(tmp_path / "projections.db")
    projections: list[Projection[Any]] = [open_projection(name, sqlite_path=views)
                                          for name in ("spend", "keys", "control", "scope_spend")]
    runners = [ProjectionRunner(ledger, projection, log=reader, poll_interval_s=30)
               for projection in projections]
    ledger.record(events[:20])
    async with running(*runners):
        await until(lambda: all(p.view.position() == ledger.max_position() for p in projections))
        for start in range(20, 60, 20):
            await asyncio.to_thread(ledger.record, events[start:start + 20])
            reads = counting.reads
            for runner in runners:
                runner.wake()
            await until(lambda: all(p.view.position() == ledger.max_position()
                                     for p in projections))
            assert counting.reads == reads
        assert spend_totals(projections[0]) == expected_spend(events)


def test_a_batch_recorded_while_a_runner_holds_the_window_is_read_later(
    ledger: LedgerApp,
) -> None:
    events = mixed_log(20)
    counting = CountingLedger(ledger)
    reader = SharedLogReader(counting)  # type: ignore[arg-type]  # duck-typed ledger
    assert reader.read_envelopes(1, 100) == []
    with reader._lock:  # a runner reading: the ledger's writer must not wait for it
        ledger.record(events)
    through = reader.recorded_through()
    assert through == ledger.max_position()
    assert _wire(reader.read_envelopes(1, 100, through=through)) == \
        _wire(ledger.read_envelopes(1, 100))
    assert counting.reads == 2
