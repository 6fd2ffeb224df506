"""``NatsBus.publish`` on the shared JetStream: every message acked, or the batch fails.

Subjects outside the bus's stream let a test decide how (and whether) a message is answered: a
second stream refuses it (expected stream), a plain subscriber swallows it (no ack ever), or a
fake responder answers it on cue.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable

import nats
import pytest
from nats.aio.client import Client
from nats.aio.msg import Msg
from nats.js.api import StreamConfig

from ledger.bus import BusMessage, BusUnavailable, Consumer, NatsBus
from ledger.bus.nats_wire import HpubEncoder
from tests.ledger.bus.support import delete_stream, fetch_all, nats_buses

MakeNatsBus = Callable[..., Awaitable[NatsBus]]


@pytest.fixture
async def make_bus(nats_url: str, namespace: str) -> AsyncIterator[MakeNatsBus]:
    async with nats_buses(nats_url, namespace) as make:
        yield make


@pytest.fixture
async def side(nats_url: str) -> AsyncIterator[Client]:
    """A second connection, for subscribers and streams the bus does not own."""
    nc = await nats.connect(nats_url)
    yield nc
    await nc.close()


def _stored(namespace: str, *ids: str) -> list[BusMessage]:
    return [BusMessage(f"{namespace}.usage.recorded", i.encode(), i) for i in ids]


async def _all_ids(bus: NatsBus, namespace: str, expected: int) -> list[str]:
    consumer: Consumer = await bus.follow(f"{namespace}.>", from_start=True)
    ids = [d.msg_id for d in await fetch_all(consumer, expected, timeout_s=5.0)]
    await consumer.aclose()
    return ids


async def _swallow(nc: Client, subject: str) -> None:
    """Someone listens on ``subject`` (so no "no responders"), and never answers."""
    await nc.subscribe(subject)
    await nc.flush()


async def test_a_refused_message_fails_the_batch_as_refused(
    make_bus: MakeNatsBus, side: Client, namespace: str, nats_url: str
) -> None:
    other = f"{namespace.upper()}X"
    await side.jetstream().add_stream(StreamConfig(name=other, subjects=[f"{namespace}x.>"]))
    try:
        bus = await make_bus(publish_timeout_s=10.0)
        refused = BusMessage(f"{namespace}x.usage.recorded", b"2", "m2")

        with pytest.raises(BusUnavailable) as raised:
            await bus.publish([*_stored(namespace, "m1"), refused])

        # NOTE: "refused", not a timeout: nats-py's publish_async turned this into a timeout.
        assert str(raised.value).startswith("NATS refused 1 of 2 messages: BadRequestError")
        assert "expected stream does not match" in str(raised.value)
        assert await _all_ids(bus, namespace, 1) == ["m1"]
    finally:
        await delete_stream(nats_url, other)


async def test_a_batch_missing_an_ack_times_out(
    make_bus: MakeNatsBus, side: Client, namespace: str
) -> None:
    await _swallow(side, f"{namespace}silent.x")
    bus = await make_bus(publish_timeout_s=0.5)
    silent = BusMessage(f"{namespace}silent.x", b"2", "m2")

    with pytest.raises(BusUnavailable, match=r"NATS acknowledged 1 of 2 messages within 0\.5s"):
        await bus.publish([*_stored(namespace, "m1"), silent])

    await bus.publish(_stored(namespace, "m3"))  # NOTE: the bus is still usable afterwards
    assert await _all_ids(bus, namespace, 2) == ["m1", "m3"]


Handler = Callable[[Msg], Awaitable[None]]


async def _responder(nc: Client, subject: str, on_request: Handler) -> None:
    await nc.subscribe(subject, cb=on_request)
    await nc.flush()


def _fake_ack(seq: int) -> bytes:
    return b'{"stream":"FAKE", "seq":%d}' % seq


async def test_a_late_ack_does_not_complete_a_later_batch(
    make_bus: MakeNatsBus, side: Client, namespace: str
) -> None:
    requests: list[Msg] = []

    async def answer_the_previous_request(msg: Msg) -> None:
        # NOTE: the ack of request n goes out when request n+1 arrives: always too late.
        if requests:
            await side.publish(requests[-1].reply, _fake_ack(len(requests)))
        requests.append(msg)

    await _responder(side, f"{namespace}late.x", answer_the_previous_request)
    bus = await make_bus(publish_timeout_s=0.3)
    late = BusMessage(f"{namespace}late.x", b"", "late")

    for _ in range(2):
        with pytest.raises(BusUnavailable, match="acknowledged 0 of 1"):
            await bus.publish([late])
    assert len(requests) == 2


async def test_a_repeated_ack_counts_once(
    make_bus: MakeNatsBus, side: Client, namespace: str
) -> None:
    async def answer_twice(msg: Msg) -> None:
        await side.publish(msg.reply, _fake_ack(1))
        await side.publish(msg.reply, _fake_ack(1))

    await _responder(side, f"{namespace}twice.x", answer_twice)
    await _swallow(side, f"{namespace}silent.x")
    bus = await make_bus(publish_timeout_s=0.5)
    batch = [
        BusMessage(f"{namespace}twice.x", b"", "a"),
        BusMessage(f"{namespace}silent.x", b"", "b"),
    ]

    with pytest.raises(BusUnavailable, match="acknowledged 1 of 2"):
        await bus.publish(batch)


async def test_an_unreadable_reply_is_a_refusal(
    make_bus: MakeNatsBus, side: Client, namespace: str
) -> None:
    async def answer_nonsense(msg: Msg) -> None:
        await side.publish(msg.reply, b"not json")

    await _responder(side, f"{namespace}odd.x", answer_nonsense)
    bus = await make_bus(publish_timeout_s=10.0)

    with pytest.raises(BusUnavailable, match="NATS refused 1 of 1 messages: APIError"):
        await bus.publish([BusMessage(f"{namespace}odd.x", b"", "a")])


async def test_duplicate_ids_in_one_batch_are_stored_once(
    make_bus: MakeNatsBus, namespace: str
) -> None:
    bus = await make_bus()
    subject = f"{namespace}.usage.recorded"

    again = BusMessage(subject, b"a-again", "a")

    await bus.publish([BusMessage(subject, b"a", "a"), again, *_stored(namespace, "b")])

    consumer = await bus.consumer("ledger", f"{namespace}.>")
    got = await fetch_all(consumer, 2, timeout_s=5.0)
    assert [(d.msg_id, d.data) for d in got] == [("a", b"a"), ("b", b"b")]


async def test_a_batch_larger_than_the_window_goes_out_as_acks_return(
    make_bus: MakeNatsBus, namespace: str
) -> None:
    bus = await make_bus(max_pending_publishes=3)
    ids = [f"m{i}" for i in range(10)]

    await bus.publish(_stored(namespace, *ids))

    assert await _all_ids(bus, namespace, 10) == ids


async def test_the_window_bounds_what_is_sent_before_acks(
    make_bus: MakeNatsBus, side: Client, namespace: str
) -> None:
    await _swallow(side, f"{namespace}silent.x")
    bus = await make_bus(max_pending_publishes=2, publish_timeout_s=0.5)
    silent = [BusMessage(f"{namespace}silent.x", b"", f"s{i}") for i in range(2)]

    with pytest.raises(BusUnavailable, match="acknowledged 0 of 3"):
        await bus.publish([*silent, *_stored(namespace, "never-sent")])

    # NOTE: the window was full of unanswered messages, so the third one never left.
    await bus.publish(_stored(namespace, "after"))
    assert await _all_ids(bus, namespace, 1) == ["after"]


async def test_concurrent_batches_share_the_window(make_bus: MakeNatsBus, namespace: str) -> None:
    bus = await make_bus(max_pending_publishes=8)
    batches = [_stored(namespace, *(f"b{b}-{i}" for i in range(20))) for b in range(5)]

    await asyncio.gather(*(bus.publish(batch) for batch in batches))

    ids = await _all_ids(bus, namespace, 100)
    assert sorted(ids) == sorted(m.msg_id for batch in batches for m in batch)


async def test_closing_the_bus_fails_a_waiting_publish(
    make_bus: MakeNatsBus, side: Client, namespace: str
) -> None:
    await _swallow(side, f"{namespace}silent.x")
    bus = await make_bus(publish_timeout_s=60.0)
    waiting = asyncio.create_task(bus.publish([BusMessage(f"{namespace}silent.x", b"", "s")]))
    await asyncio.sleep(0.1)

    await bus.aclose()

    with pytest.raises(BusUnavailable, match="cancelled"):
        await asyncio.wait_for(waiting, 10.0)  # NOTE: bounded far below the publish timeout


async def test_a_subject_with_whitespace_is_refused_before_sending(
    make_bus: MakeNatsBus, namespace: str
) -> None:
    bus = await make_bus()

    with pytest.raises(BusUnavailable, match="BadSubjectError"):
        await bus.publish([*_stored(namespace, "m1"), BusMessage(f"{namespace}.a b", b"", "x")])

    await bus.publish(_stored(namespace, "m2"))
    assert await _all_ids(bus, namespace, 1) == ["m2"]


async def test_frames_are_what_nats_py_would_send() -> None:
    messages = [
        BusMessage("llmux.usage.recorded", b"{}", "0b6f0c7e-9d1e-4a53-9f3c-6f1d0f0e6a01"),
        BusMessage("llmux.request.completed", b"", " odd\r\nid "),
    ]
    offline = Client()  # NOTE: never connected: its pending buffer holds exactly what it would send
    for index, m in enumerate(messages):
        headers = {"Nats-Expected-Stream": "LLMUX", "Nats-Msg-Id": m.msg_id}
        reply = f"_INBOX.r.7.{index}"
        await offline._send_publish(m.subject, reply, m.data, len(m.data), headers)

    frames, payload_bytes = HpubEncoder("LLMUX").frames(messages, 0, 2, b"_INBOX.r.7.", 1024)

    assert frames == b"".join(offline._pending)
    assert payload_bytes == 2
