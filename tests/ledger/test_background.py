"""Background threads (the ledger writer here) run at a lower CPU priority than the event loop."""

from __future__ import annotations

import os
import threading
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from ledger import LedgerConsumer, LocalBus, lower_thread_priority, open_ledger
from ledger.background import BACKGROUND_NICE
from tests.ledger.test_ledger_consumer import ALL_EVENTS, DURABLE, _messages
from tests.projections.events import mixed_log


def _nice_of_this_thread() -> int:
    return os.getpriority(os.PRIO_PROCESS, threading.get_native_id())


def test_an_initialized_worker_runs_at_the_background_nice_and_the_caller_does_not() -> None:
    before = _nice_of_this_thread()
    with ThreadPoolExecutor(max_workers=1, initializer=lower_thread_priority) as pool:
        inside = pool.submit(_nice_of_this_thread).result()
    assert inside == max(before, BACKGROUND_NICE)
    assert _nice_of_this_thread() == before  # only the worker thread was reniced


async def test_the_ledger_writer_records_at_the_background_priority(tmp_path: Path) -> None:
    app = open_ledger(sqlite_path=str(tmp_path / "ledger.db"))
    seen: list[int] = []
    record = app.record

    def recording(envelopes: Any) -> int:
        seen.append(_nice_of_this_thread())
        return record(envelopes)

    app.record = recording  # type: ignore[method-assign]
    bus = LocalBus(None)
    await bus.start()
    await bus.publish(_messages(mixed_log(5)))
    consumer = LedgerConsumer(app, await bus.consumer(DURABLE, ALL_EVENTS))
    try:
        assert await consumer.run_once() == 5
    finally:
        await consumer.aclose()
        await bus.aclose()
        app.close()
    assert seen == [max(_nice_of_this_thread(), BACKGROUND_NICE)]
