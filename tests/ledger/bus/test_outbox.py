"""``Outbox``: batches to the bus, spills during a real outage, drains afterwards, drops nothing."""

from __future__ import annotations

import asyncio
import os
from collections.abc import Sequence
from pathlib import Path

import pytest

from ledger.bus import BusMessage, LocalBus, NatsBus, Outbox
from schemas.events import decode_envelope
from tests.ledger.bus.support import NatsServerProcess, eventually, fetch_all, make_envelope


def _nats_bus(server: NatsServerProcess) -> NatsBus:
    return NatsBus(server.url, publish_timeout_s=0.5, reconnect_wait_s=0.1)


async def test_events_reach_the_bus_as_encoded_envelopes(tmp_path: Path) -> None:
    bus = LocalBus(None)
    await bus.start()
    outbox = Outbox(bus, str(tmp_path / "spill.bin"), subject_prefix="gw")
    await outbox.start()
    envelopes = [make_envelope(i) for i in range(3)]

    for envelope in envelopes:
        outbox.publish_nowait(envelope)
    await eventually(lambda: outbox.published_total == 3)

    consumer = await bus.consumer("ledger", "gw.>")
    got = await consumer.fetch(10, 2.0)
    assert [d.subject for d in got] == ["gw.usage.recorded"] * 3
    assert [d.msg_id for d in got] == [str(e.id) for e in envelopes]
    assert [decode_envelope(d.data) for d in got] == envelopes
    assert (outbox.pending, outbox.spilled_total, outbox.spill_bytes) == (0, 0, 0)
    await outbox.aclose()
    await bus.aclose()


class _SlowBus(LocalBus):
    """Up, but slower than the traffic: every publish takes 20 ms."""

    async def publish(self, messages: Sequence[BusMessage]) -> None:
        await asyncio.sleep(0.02)
        await super().publish(messages)


async def test_a_slow_bus_holds_publishers_back_instead_of_spilling(tmp_path: Path) -> None:
    bus = _SlowBus(None)
    await bus.start()
    outbox = Outbox(bus, str(tmp_path / "spill.bin"), max_events=10, batch_size=4,
                    flush_interval_s=0.001)
    await outbox.start()
    for i in range(30):
        outbox.publish_nowait(make_envelope(i))
    waiting = asyncio.ensure_future(outbox.wait_for_room())
    await asyncio.sleep(0.005)
    assert not waiting.done()  # 30 queued, room for 10: the request path waits for the bus
    await asyncio.wait_for(waiting, 10)
    assert outbox.pending < 10 and outbox.blocked_total == 1
    await eventually(lambda: outbox.published_total == 30)
    assert (outbox.spilled_total, outbox.spill_bytes) == (0, 0)  # the bus was up: no spill
    await outbox.aclose()
    await bus.aclose()


async def test_a_lagging_ledger_holds_the_request_path_back(tmp_path: Path) -> None:
    bus = LocalBus(None, max_backlog=20)
    await bus.start()
    ledger = await bus.consumer("ledger", "llmux.>")
    outbox = Outbox(bus, str(tmp_path / "spill.bin"), flush_interval_s=0.001)
    await outbox.start()
    for i in range(30):
        outbox.publish_nowait(make_envelope(i))
    await eventually(lambda: outbox.published_total == 30)  # the bus took them all...

    waiting = asyncio.ensure_future(outbox.wait_for_room())
    await asyncio.sleep(0.01)
    assert not waiting.done()  # ...but its ledger is 30 behind: the request path waits
    await ledger.ack(await ledger.fetch(15, 1.0))

    await asyncio.wait_for(waiting, 10)
    assert outbox.blocked_total == 1 and bus.backlog == 15
    await outbox.aclose()
    await bus.aclose()


async def test_a_nats_outage_spills_and_every_event_lands_exactly_once(
    tmp_path: Path, nats_server: NatsServerProcess
) -> None:
    bus = _nats_bus(nats_server)
    await bus.start()
    outbox = Outbox(bus, str(tmp_path / "spill.bin"), retry_max_s=0.2)
    await outbox.start()
    envelopes = [make_envelope(i) for i in range(300)]
    for envelope in envelopes[:100]:
        outbox.publish_nowait(envelope)
    await eventually(lambda: outbox.published_total == 100)

    nats_server.kill()
    for envelope in envelopes[100:200]:
        outbox.publish_nowait(envelope)
        await asyncio.sleep(0)  # NOTE: lets several batches meet the dead bus
    await eventually(lambda: outbox.spilled_total == 100 and outbox.pending == 0)
    assert outbox.spill_bytes > 0
    assert outbox.published_total == 100

    nats_server.start()
    for envelope in envelopes[200:]:
        outbox.publish_nowait(envelope)
    await eventually(lambda: outbox.spill_bytes == 0 and outbox.pending == 0, timeout_s=20.0)

    follower = await bus.follow("llmux.>", from_start=True)
    stored = [d.msg_id for d in await fetch_all(follower, 300)]
    assert stored == [str(e.id) for e in envelopes]
    assert outbox.published_total >= 300
    assert os.path.getsize(tmp_path / "spill.bin") == 0
    await outbox.aclose()
    await bus.aclose()


async def test_a_spill_left_at_close_is_drained_by_the_next_outbox(
    tmp_path: Path, nats_server: NatsServerProcess
) -> None:
    spill_path = str(tmp_path / "spill.bin")
    bus = _nats_bus(nats_server)
    await bus.start()
    nats_server.kill()
    await eventually(lambda: not bus.is_connected)
    outbox = Outbox(bus, spill_path, close_timeout_s=1.0)
    await outbox.start()
    envelopes = [make_envelope(i) for i in range(20)]
    for envelope in envelopes:
        outbox.publish_nowait(envelope)

    await outbox.aclose()
    await bus.aclose()

    assert (outbox.published_total, outbox.spilled_total) == (0, 20)
    assert os.path.getsize(spill_path) == outbox.spill_bytes > 0
    nats_server.start()
    bus = _nats_bus(nats_server)
    await bus.start()
    successor = Outbox(bus, spill_path)
    await successor.start()
    await eventually(lambda: successor.spill_bytes == 0)

    follower = await bus.follow("llmux.>", from_start=True)
    assert [d.msg_id for d in await fetch_all(follower, 20)] == [str(e.id) for e in envelopes]
    assert successor.published_total == 20
    await successor.aclose()
    await bus.aclose()
    assert os.path.getsize(spill_path) == 0


async def test_publish_waits_only_while_memory_and_spill_are_full(tmp_path: Path) -> None:
    bus = LocalBus(None)  # NOTE: not started yet, so it is unavailable (a real state, not a fake)
    outbox = Outbox(
        bus, str(tmp_path / "spill.bin"), max_events=2, spill_max_bytes=1, retry_max_s=0.05
    )
    await outbox.start()
    envelopes = [make_envelope(i) for i in range(5)]
    await outbox.publish(envelopes[0])
    await outbox.publish(envelopes[1])
    await eventually(lambda: outbox.spill_bytes > 0 and outbox.pending == 0)
    await outbox.publish(envelopes[2])  # the spill is full now, memory is not: no wait
    await outbox.publish(envelopes[3])
    assert outbox.blocked_total == 0

    waiting = asyncio.create_task(outbox.publish(envelopes[4]))
    await asyncio.sleep(0.2)
    assert not waiting.done()
    assert outbox.blocked_total == 1
    assert outbox.pending == 2

    await bus.start()
    await asyncio.wait_for(waiting, 10.0)
    await eventually(lambda: outbox.published_total == 5 and outbox.spill_bytes == 0)
    consumer = await bus.consumer("ledger", "llmux.>")
    got = await consumer.fetch(10, 2.0)
    assert [d.msg_id for d in got] == [str(e.id) for e in envelopes]
    await outbox.aclose()
    await bus.aclose()


async def test_close_spills_past_the_limit_rather_than_drop(tmp_path: Path) -> None:
    bus = LocalBus(None)  # never started: unavailable for the whole test
    outbox = Outbox(bus, str(tmp_path / "spill.bin"), spill_max_bytes=1, close_timeout_s=0.5)
    await outbox.start()
    for i in range(50):
        outbox.publish_nowait(make_envelope(i))

    await outbox.aclose()

    assert outbox.spilled_total == 50
    assert outbox.pending == 0
    with pytest.raises(RuntimeError):
        outbox.publish_nowait(make_envelope(51))
