"""``LocalBus``: the contract (in memory and on a file), plus what only the SQLite store has."""

from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from ledger.bus import Bus, BusMessage, BusUnavailable, Consumer, LocalBus
from tests.ledger.bus.bus_contract import BusContract, MakeBus, PersistentBusContract


@pytest.fixture
def prefix() -> str:
    return "llmux"


class TestLocalBusInMemory(BusContract):
    @pytest.fixture
    async def make_bus(self) -> AsyncIterator[MakeBus]:
        buses: list[LocalBus] = []

        async def make(**options: Any) -> Bus:
            bus = LocalBus(None, **options)
            await bus.start()
            buses.append(bus)
            return bus

        yield make
        for bus in buses:
            await bus.aclose()


class TestLocalBusOnFile(PersistentBusContract):
    @pytest.fixture
    async def make_bus(self, tmp_path: Path) -> AsyncIterator[MakeBus]:
        buses: list[LocalBus] = []

        async def make(**options: Any) -> Bus:
            bus = LocalBus(str(tmp_path / "bus.sqlite3"), **options)
            await bus.start()
            buses.append(bus)
            return bus

        yield make
        for bus in buses:
            await bus.aclose()


def _stored_subjects(path: Path) -> list[str]:
    with sqlite3.connect(path) as conn:
        return [row[0] for row in conn.execute("SELECT subject FROM messages ORDER BY seq")]


async def test_prune_drops_what_every_durable_acked_but_keeps_retained(tmp_path: Path) -> None:
    path = tmp_path / "bus.sqlite3"
    bus = LocalBus(str(path), retain=("llmux.admin.>",), prune_every_acks=1)
    await bus.start()
    await bus.publish([BusMessage("llmux.admin.key.created", b"k", "k1")])
    await bus.publish([BusMessage("llmux.usage.recorded", b"u", f"u{i}") for i in range(3)])
    ledger = await bus.consumer("ledger", "llmux.>")
    slow = await bus.consumer("slow", "llmux.usage.>")
    await ledger.ack(await ledger.fetch(10, 1.0))
    assert len(_stored_subjects(path)) == 4  # "slow" has acked nothing yet

    slow_got = await slow.fetch(10, 1.0)
    await slow.ack(slow_got[:2])

    assert _stored_subjects(path) == ["llmux.admin.key.created", "llmux.usage.recorded"]
    replay = await bus.follow("llmux.admin.>", from_start=True)
    assert [d.msg_id for d in await replay.fetch(10, 1.0)] == ["k1"]
    await bus.aclose()


async def test_sequence_numbers_are_never_reused_after_pruning(tmp_path: Path) -> None:
    path = str(tmp_path / "bus.sqlite3")
    bus = LocalBus(path, prune_every_acks=1)
    await bus.start()
    await bus.publish([BusMessage("llmux.usage.recorded", b"a", "a")])
    consumer = await bus.consumer("ledger", "llmux.>")
    first = await consumer.fetch(10, 1.0)
    await consumer.ack(first)
    await bus.aclose()
    assert _stored_subjects(tmp_path / "bus.sqlite3") == []

    bus = LocalBus(path)
    await bus.start()
    await bus.publish([BusMessage("llmux.usage.recorded", b"b", "b")])
    consumer = await bus.consumer("ledger", "llmux.>")
    second = await consumer.fetch(10, 1.0)

    assert [d.msg_id for d in second] == ["b"]
    assert second[0].sequence > first[0].sequence
    await bus.aclose()


async def test_a_durable_keeps_its_filter(tmp_path: Path) -> None:
    bus = LocalBus(None)
    await bus.start()
    await bus.consumer("ledger", "llmux.>")

    with pytest.raises(ValueError, match="exists with filter"):
        await bus.consumer("ledger", "llmux.admin.>")
    await bus.aclose()


async def test_a_closed_bus_is_unavailable() -> None:
    bus = LocalBus(None)
    await bus.start()
    consumer = await bus.consumer("ledger", "llmux.>")
    await bus.aclose()

    with pytest.raises(BusUnavailable):
        await bus.publish([BusMessage("llmux.usage.recorded", b"a", "a")])
    with pytest.raises(BusUnavailable):
        await consumer.fetch(10, 0.1)


async def test_a_bus_not_started_is_unavailable() -> None:
    with pytest.raises(BusUnavailable):
        await LocalBus(None).publish([BusMessage("llmux.usage.recorded", b"a", "a")])


async def test_a_follower_of_rare_subjects_reads_only_what_is_new() -> None:
    bus = LocalBus(None)
    await bus.start()
    follower = await bus.follow("llmux.admin.>", from_start=True)
    log = bus._open_log()
    read = log.read_after
    starts: list[int] = []

    def spying(subject_filter: str, after_seq: int, limit: int) -> Any:
        starts.append(after_seq)
        return read(subject_filter, after_seq, limit)

    log.read_after = spying  # type: ignore[method-assign]
    await bus.publish([BusMessage(subject="llmux.usage.recorded", data=b"{}", msg_id=f"u{i}")
                       for i in range(50)])
    assert await follower.fetch(10, 0.0) == []
    await bus.publish([BusMessage(subject="llmux.admin.key.created", data=b"{}", msg_id="a1")])
    got = await follower.fetch(10, 0.0)
    assert [d.msg_id for d in got] == ["a1"]
    # The second read started after the 50 usage messages the first one had already passed over.
    assert starts == [0, 50]
    await bus.aclose()


def _usage(ids: range) -> list[BusMessage]:
    return [BusMessage("llmux.usage.recorded", b"u", f"u{i}") for i in ids]


async def test_a_lagging_durable_holds_publishers_back_until_it_acks(tmp_path: Path) -> None:
    bus = LocalBus(str(tmp_path / "bus.sqlite3"), max_backlog=5)
    await bus.start()
    await bus.publish(_usage(range(10)))
    assert bus.has_room()  # nobody consumes yet: nothing can fall behind
    ledger = await bus.consumer("ledger", "llmux.>")
    assert (bus.backlog, bus.has_room()) == (10, False)

    waiting = asyncio.ensure_future(bus.wait_for_room())
    first = await ledger.fetch(4, 1.0)
    await ledger.ack(first)
    await asyncio.sleep(0.01)
    assert bus.backlog == 6 and not waiting.done()  # still 6 unrecorded: still waiting
    await ledger.ack(await ledger.fetch(2, 1.0))

    await asyncio.wait_for(waiting, 5)
    assert (bus.backlog, bus.has_room()) == (4, True)
    await bus.aclose()


async def test_a_durable_resumes_with_its_backlog_after_a_restart(tmp_path: Path) -> None:
    path = str(tmp_path / "bus.sqlite3")
    bus = LocalBus(path, max_backlog=5)
    await bus.start()
    ledger = await bus.consumer("ledger", "llmux.>")
    await bus.publish(_usage(range(8)))
    await ledger.ack(await ledger.fetch(3, 1.0))
    await bus.aclose()

    bus = LocalBus(path, max_backlog=5)
    await bus.start()
    await bus.consumer("ledger", "llmux.>")
    assert (bus.backlog, bus.has_room()) == (5, False)  # its floor was read back, not reset
    await bus.aclose()


async def _held_publisher() -> tuple[LocalBus, Consumer, asyncio.Future[None]]:
    """A bus whose ledger is 3 events behind a bound of 1, and a publisher waiting for room."""
    bus = LocalBus(None, max_backlog=1)
    await bus.start()
    ledger = await bus.consumer("ledger", "llmux.>")
    await bus.publish(_usage(range(3)))
    waiting = asyncio.ensure_future(bus.wait_for_room())
    await asyncio.sleep(0.01)
    assert not waiting.done()
    return bus, ledger, waiting


async def test_closing_the_bus_releases_held_publishers() -> None:
    bus, _, waiting = await _held_publisher()

    await bus.aclose()
    await asyncio.wait_for(waiting, 5)


async def test_without_a_bound_a_lagging_durable_holds_nobody_back() -> None:
    bus = LocalBus(None)
    await bus.start()
    await bus.consumer("ledger", "llmux.>")
    await bus.publish(_usage(range(1000)))
    assert (bus.backlog, bus.has_room()) == (1000, True)
    await asyncio.wait_for(bus.wait_for_room(), 1)
    await bus.aclose()


async def test_the_slowest_durable_sets_the_backlog() -> None:
    bus = LocalBus(None, max_backlog=5)
    await bus.start()
    fast = await bus.consumer("ledger", "llmux.>")
    slow = await bus.consumer("audit", "llmux.>")
    await bus.publish(_usage(range(8)))
    await fast.ack(await fast.fetch(10, 1.0))
    await slow.ack(await slow.fetch(2, 1.0))
    assert (bus.backlog, bus.has_room()) == (6, False)
    await bus.aclose()


async def test_a_durable_that_stops_consuming_stops_holding_publishers_back() -> None:
    bus, ledger, waiting = await _held_publisher()

    await ledger.aclose()  # e.g. the ledger job ended: its backlog no longer counts
    await asyncio.wait_for(waiting, 5)
    assert (bus.backlog, bus.has_room()) == (0, True)
    await bus.aclose()


async def test_a_ledger_that_makes_no_progress_holds_publishers_only_so_long() -> None:
    bus = LocalBus(None, max_backlog=1, max_backlog_wait_s=0.05)
    await bus.start()
    await bus.consumer("ledger", "llmux.>")
    await bus.publish(_usage(range(3)))

    await asyncio.wait_for(bus.wait_for_room(), 5)  # returns after ~0.05 s, not never
    assert not bus.has_room()
    await bus.aclose()


async def test_messages_outside_a_durables_filter_are_not_its_backlog() -> None:
    bus = LocalBus(None, max_backlog=5)
    await bus.start()
    admin = await bus.consumer("admin", "llmux.admin.>")
    await bus.publish(_usage(range(8)))
    assert bus.backlog == 8  # not known yet: nothing was fetched

    assert await admin.fetch(10, 0.05) == []
    assert (bus.backlog, bus.has_room()) == (0, True)
    await bus.aclose()
