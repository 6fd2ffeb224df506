"""The shared log reader returns exactly what the ledger does, for any runner position, and reads
each range from the store once for all the runners that follow it."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from ledger import LedgerApp, open_ledger
from projections import Projection, ProjectionRunner, SpendView, open_projection
from projections.log_reader import SharedLogReader
from schemas.events import EventEnvelope
from tests.projections.events import expected_spend, mixed_log


class CountingLedger:
    """The ledger, counting the events it decodes."""

    def __init__(self, app: LedgerApp) -> None:
        self.app = app
        self.decoded = 0

    def read_envelopes(self, start_position: int, limit: int) -> list[tuple[int, EventEnvelope]]:
        entries = self.app.read_envelopes(start_position, limit)
        self.decoded += len(entries)
        return entries


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
        spend = projections[0].view
        assert isinstance(spend, SpendView)
        totals = {(r.key_id, r.day.isoformat()): (r.requests, r.prompt_tokens,
                                                  r.completion_tokens, r.cached_tokens,
                                                  r.reasoning_tokens, r.cost_micros)
                  for r in spend.rows()}
        assert totals == expected_spend(events)
        assert all(p.view.position() == ledger.max_position() for p in projections)
    finally:
        for runner in runners:
            await runner.aclose()
