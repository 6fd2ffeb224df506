"""``NatsBus``: the contract on the shared JetStream, and outages on a private nats-server."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable

import nats
import pytest

from ledger.bus import BusMessage, BusUnavailable, NatsBus
from tests.ledger.bus.bus_contract import MakeBus, PersistentBusContract
from tests.ledger.bus.support import (
    NatsServerProcess,
    delete_stream,
    eventually,
    free_port,
    nats_buses,
)


@pytest.fixture
def prefix(namespace: str) -> str:
    return namespace


class TestNatsBus(PersistentBusContract):
    @pytest.fixture
    async def make_bus(self, nats_url: str, namespace: str) -> AsyncIterator[MakeBus]:
        async with nats_buses(nats_url, namespace) as make:
            yield make


async def _until(condition: Callable[[], bool]) -> None:
    await eventually(condition, timeout_s=10.0)


def _message(n: int) -> BusMessage:
    return BusMessage(subject="llmux.usage.recorded", data=b"%d" % n, msg_id=f"m{n}")


async def test_start_fails_fast_and_clearly_when_nats_is_absent() -> None:
    url = f"nats://llmux:s3cret@127.0.0.1:{free_port()}"
    bus = NatsBus(url, connect_timeout_s=1.0)

    with pytest.raises(BusUnavailable) as raised:
        # NOTE: bounded so a regression to nats-py's 60 reconnect attempts fails instead of hanging.
        await asyncio.wait_for(bus.start(), 10.0)

    message = str(raised.value)
    assert message.startswith(f"cannot reach NATS at nats://127.0.0.1:{url.rsplit(':', 1)[1]}: ")
    assert "s3cret" not in message


async def test_an_outage_is_unavailable_then_recovers(nats_server: NatsServerProcess) -> None:
    bus = NatsBus(nats_server.url, publish_timeout_s=0.5, reconnect_wait_s=0.1)
    await bus.start()
    consumer = await bus.consumer("ledger", "llmux.>")
    await bus.publish([_message(1)])
    assert [d.msg_id for d in await consumer.fetch(10, 2.0)] == ["m1"]

    nats_server.kill()
    with pytest.raises(BusUnavailable):
        await asyncio.wait_for(bus.publish([_message(2)]), 5.0)
    await _until(lambda: not bus.is_connected)
    with pytest.raises(BusUnavailable):
        await asyncio.wait_for(consumer.fetch(10, 0.2), 5.0)

    nats_server.start()
    await _until(lambda: bus.is_connected)  # the client reconnects by itself every 0.1 s
    await bus.publish([_message(2)])
    got = await consumer.fetch(10, 2.0)
    assert [d.msg_id for d in got if d.msg_id == "m2"] == ["m2"]
    await bus.aclose()


async def test_a_follower_keeps_following_across_a_server_restart(
    nats_server: NatsServerProcess,
) -> None:
    bus = NatsBus(nats_server.url, reconnect_wait_s=0.1, consumer_check_interval_s=0.2)
    await bus.start()
    follower = await bus.follow("llmux.>", from_start=False)
    await bus.publish([_message(1)])
    assert [d.msg_id for d in await follower.fetch(10, 2.0)] == ["m1"]

    nats_server.kill()
    await _until(lambda: not bus.is_connected)
    nats_server.start()
    await _until(lambda: bus.is_connected)
    await bus.publish([_message(2)])

    got = []
    for _ in range(20):  # bounded; an empty fetch also checks the follower still exists
        got += await follower.fetch(10, 0.5)
        if got:
            break
    assert [d.msg_id for d in got] == ["m2"]
    await bus.aclose()


async def test_a_follower_whose_consumer_vanished_resumes_where_it_was(
    nats_url: str, namespace: str
) -> None:
    stream = namespace.upper()
    bus = NatsBus(nats_url, stream=stream, subject_prefix=namespace, consumer_check_interval_s=0.1)
    await bus.start()
    try:
        follower = await bus.follow(f"{namespace}.>", from_start=True)
        await bus.publish([BusMessage(f"{namespace}.admin.x", b"1", "a1")])
        assert [d.msg_id for d in await follower.fetch(10, 2.0)] == ["a1"]
        nc = await nats.connect(nats_url)
        js = nc.jetstream()
        consumers = await js.consumers_info(stream)
        assert len(consumers) == 1
        await js.delete_consumer(stream, consumers[0].name)
        await nc.close()
        await bus.publish([BusMessage(f"{namespace}.admin.x", b"2", "a2")])

        got = []
        for _ in range(20):
            got += await follower.fetch(10, 0.3)
            if got:
                break
        assert [d.msg_id for d in got] == ["a2"]
    finally:
        await bus.aclose()
        await delete_stream(nats_url, stream)


async def test_a_deleted_stream_is_recreated_after_the_failed_publish(
    nats_url: str, namespace: str
) -> None:
    stream = namespace.upper()
    bus = NatsBus(nats_url, stream=stream, subject_prefix=namespace)
    await bus.start()
    try:
        await delete_stream(nats_url, stream)
        message = BusMessage(f"{namespace}.usage.recorded", b"1", "u1")
        with pytest.raises(BusUnavailable):
            await bus.publish([message])

        await bus.publish([message])

        consumer = await bus.consumer("ledger", f"{namespace}.>")
        assert [d.msg_id for d in await consumer.fetch(10, 2.0)] == ["u1"]
    finally:
        await bus.aclose()
        await delete_stream(nats_url, stream)


async def test_a_durable_knows_how_far_behind_it_is(nats_url: str, namespace: str) -> None:
    """What ``llmux ledger`` reports as its lag: stored, on its filter, not yet acked."""
    async with nats_buses(nats_url, namespace) as make:
        bus = await make()
        consumer = await bus.consumer("ledger", f"{namespace}.usage.>")
        await bus.publish([BusMessage(f"{namespace}.usage.recorded", b"%d" % n, f"u{n}")
                           for n in range(5)])
        await bus.publish([BusMessage(f"{namespace}.admin.key.created", b"a", "a1")])
        assert await consumer.pending() == 5  # the admin event is not on its filter

        fetched = await consumer.fetch(3, 2.0)
        assert await consumer.pending() == 5  # delivered, not acked: still behind
        await consumer.ack(fetched)
        for _ in range(100):  # NOTE: acks are fire-and-forget: the server counts them soon after
            if await consumer.pending() == 2:
                break
            await asyncio.sleep(0.02)
        assert await consumer.pending() == 2


async def test_max_age_bounds_the_stream_also_when_it_already_exists(
        nats_url: str, namespace: str) -> None:
    """Without it JetStream keeps every event forever, beside Postgres, until its disk fills."""
    async with nats_buses(nats_url, namespace) as make:
        forever = await make()
        await forever.publish([BusMessage(f"{namespace}.usage.recorded", b"0", "u0")])
        assert await _stream_max_age_and_count(nats_url, namespace.upper()) == (0.0, 1)

        await make(max_age_s=1.0)  # a process started with nats.max_age: 1s

        max_age, _ = await _stream_max_age_and_count(nats_url, namespace.upper())
        assert max_age == 1.0
        for _ in range(100):
            if (await _stream_max_age_and_count(nats_url, namespace.upper()))[1] == 0:
                break
            await asyncio.sleep(0.05)
        assert await _stream_max_age_and_count(nats_url, namespace.upper()) == (1.0, 0)


async def _stream_max_age_and_count(nats_url: str, stream: str) -> tuple[float, int]:
    connection = await nats.connect(nats_url)
    try:
        info = await connection.jetstream().stream_info(stream)
        return info.config.max_age or 0.0, info.state.messages
    finally:
        await connection.close()
