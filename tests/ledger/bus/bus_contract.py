"""The ``Bus`` contract, written once and run against every implementation.

A subclass provides two fixtures: ``prefix`` (the subject prefix its stream accepts) and
``make_bus``, an async factory ``make_bus(**options) -> Bus`` that returns a started bus on the same
backing store every time it is called (so a second call models a process restart), closing them
all at the end of the test.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable

import pytest

from ledger.bus import Bus, BusMessage, Delivery

MakeBus = Callable[..., Awaitable[Bus]]


def _messages(prefix: str, kind: str, ids: range) -> list[BusMessage]:
    return [
        BusMessage(subject=f"{prefix}.{kind}", data=f"{kind}-{i}".encode(), msg_id=f"{kind}-{i}")
        for i in ids
    ]


def _ids(deliveries: list[Delivery]) -> list[str]:
    return [d.msg_id for d in deliveries]


class BusContract:
    async def test_publish_fetch_ack_in_stream_order(self, make_bus: MakeBus, prefix: str) -> None:
        bus = await make_bus()
        await bus.publish(_messages(prefix, "usage.recorded", range(3)))
        await bus.publish(_messages(prefix, "request.completed", range(2)))
        consumer = await bus.consumer("ledger", f"{prefix}.>")

        got = await consumer.fetch(10, 2.0)

        assert _ids(got) == [f"usage.recorded-{i}" for i in range(3)] + [
            f"request.completed-{i}" for i in range(2)
        ]
        assert [d.subject for d in got[:1]] == [f"{prefix}.usage.recorded"]
        assert got[0].data == b"usage.recorded-0"
        sequences = [d.sequence for d in got]
        assert sequences == sorted(sequences) and len(set(sequences)) == 5
        await consumer.ack(got)
        assert await consumer.fetch(10, 0.3) == []

    async def test_fetch_honours_max_messages(self, make_bus: MakeBus, prefix: str) -> None:
        bus = await make_bus()
        await bus.publish(_messages(prefix, "usage.recorded", range(5)))
        consumer = await bus.consumer("ledger", f"{prefix}.>")

        first = await consumer.fetch(2, 2.0)
        second = await consumer.fetch(10, 2.0)

        assert _ids(first) == ["usage.recorded-0", "usage.recorded-1"]
        assert _ids(second) == [f"usage.recorded-{i}" for i in range(2, 5)]

    async def test_duplicate_msg_id_is_stored_once(self, make_bus: MakeBus, prefix: str) -> None:
        bus = await make_bus()
        subject = f"{prefix}.usage.recorded"
        await bus.publish([BusMessage(subject, b"a", "id-a"), BusMessage(subject, b"b", "id-b")])
        await bus.publish(
            [BusMessage(subject, b"b-again", "id-b"), BusMessage(subject, b"c", "id-c")]
        )
        consumer = await bus.consumer("ledger", f"{prefix}.>")

        got = await consumer.fetch(10, 2.0)
        got += await consumer.fetch(10, 0.3)

        assert _ids(got) == ["id-a", "id-b", "id-c"]
        assert got[1].data == b"b"

    async def test_fetch_waits_for_a_new_message(self, make_bus: MakeBus, prefix: str) -> None:
        bus = await make_bus()
        consumer = await bus.consumer("ledger", f"{prefix}.>")
        waiting = asyncio.create_task(consumer.fetch(10, 30.0))
        await asyncio.sleep(0.2)
        assert not waiting.done()

        await bus.publish(_messages(prefix, "usage.recorded", range(1)))

        # NOTE: bounded far below the fetch timeout: a fetch that did not wake would fail here.
        got = await asyncio.wait_for(waiting, 10.0)
        assert _ids(got) == ["usage.recorded-0"]

    async def test_fetch_returns_empty_after_its_timeout(
        self, make_bus: MakeBus, prefix: str
    ) -> None:
        bus = await make_bus()
        consumer = await bus.consumer("ledger", f"{prefix}.>")

        assert await consumer.fetch(10, 0.2) == []

    async def test_durable_resumes_after_a_new_consumer(
        self, make_bus: MakeBus, prefix: str
    ) -> None:
        bus = await make_bus()
        await bus.publish(_messages(prefix, "usage.recorded", range(4)))
        first = await bus.consumer("ledger", f"{prefix}.>")
        got = await first.fetch(10, 2.0)
        await first.ack(got[:2])
        await first.aclose()

        second = await bus.consumer("ledger", f"{prefix}.>")
        redelivered = await second.fetch(10, 2.0)

        assert _ids(redelivered) == ["usage.recorded-2", "usage.recorded-3"]

    async def test_consumers_of_one_durable_split_the_work(
        self, make_bus: MakeBus, prefix: str
    ) -> None:
        bus = await make_bus()
        await bus.publish(_messages(prefix, "usage.recorded", range(4)))
        one = await bus.consumer("ledger", f"{prefix}.>")
        two = await bus.consumer("ledger", f"{prefix}.>")

        first = await one.fetch(2, 2.0)
        second = await two.fetch(10, 2.0)

        assert _ids(first) == ["usage.recorded-0", "usage.recorded-1"]
        assert _ids(second) == ["usage.recorded-2", "usage.recorded-3"]

    async def test_unacked_message_is_redelivered_after_ack_wait(
        self, make_bus: MakeBus, prefix: str
    ) -> None:
        bus = await make_bus(ack_wait_s=1.0)
        await bus.publish(_messages(prefix, "usage.recorded", range(1)))
        consumer = await bus.consumer("ledger", f"{prefix}.>")
        assert _ids(await consumer.fetch(10, 2.0)) == ["usage.recorded-0"]

        again = await consumer.fetch(10, 5.0)

        assert _ids(again) == ["usage.recorded-0"]

    async def test_subject_filters_select_messages(self, make_bus: MakeBus, prefix: str) -> None:
        bus = await make_bus()
        await bus.publish(_messages(prefix, "usage.recorded", range(1)))
        await bus.publish(_messages(prefix, "request.completed", range(1)))
        await bus.publish(_messages(prefix, "admin.key.created", range(1)))
        await bus.publish(_messages(prefix, "admin.budget.changed", range(1)))

        admin = await bus.consumer("admin", f"{prefix}.admin.>")
        recorded = await bus.consumer("recorded", f"{prefix}.*.recorded")
        exact = await bus.consumer("exact", f"{prefix}.request.completed")
        two_tokens = await bus.consumer("two", f"{prefix}.*.*")

        assert _ids(await admin.fetch(10, 2.0)) == ["admin.key.created-0", "admin.budget.changed-0"]
        assert _ids(await recorded.fetch(10, 2.0)) == ["usage.recorded-0"]
        assert _ids(await exact.fetch(10, 2.0)) == ["request.completed-0"]
        assert _ids(await two_tokens.fetch(10, 2.0)) == ["usage.recorded-0", "request.completed-0"]

    async def test_a_filtered_durable_resumes_past_other_subjects(
        self, make_bus: MakeBus, prefix: str
    ) -> None:
        bus = await make_bus()
        await bus.publish(_messages(prefix, "admin.key.created", range(2)))
        await bus.publish(_messages(prefix, "usage.recorded", range(3)))
        admin = await bus.consumer("admin", f"{prefix}.admin.>")
        await admin.ack(await admin.fetch(10, 2.0))
        await admin.aclose()
        await bus.publish(_messages(prefix, "admin.key.created", range(2, 3)))

        again = await bus.consumer("admin", f"{prefix}.admin.>")

        assert _ids(await again.fetch(10, 2.0)) == ["admin.key.created-2"]

    async def test_followers_each_see_every_message(self, make_bus: MakeBus, prefix: str) -> None:
        bus = await make_bus()
        await bus.publish(_messages(prefix, "admin.key.created", range(2)))
        one = await bus.follow(f"{prefix}.admin.>", from_start=False)
        two = await bus.follow(f"{prefix}.admin.>", from_start=False)

        await bus.publish(_messages(prefix, "admin.key.created", range(2, 5)))
        await bus.publish(_messages(prefix, "usage.recorded", range(1)))

        new = [f"admin.key.created-{i}" for i in range(2, 5)]
        for follower in (one, two):
            got = await follower.fetch(10, 2.0)
            await follower.ack(got)
            assert _ids(got) == new
            assert await follower.fetch(10, 0.3) == []
        replay = await bus.follow(f"{prefix}.admin.>", from_start=True)
        assert _ids(await replay.fetch(10, 2.0)) == [
            "admin.key.created-0",
            "admin.key.created-1",
            *new,
        ]
        for follower in (one, two, replay):
            await follower.aclose()

    async def test_a_follower_does_not_take_work_from_a_durable(
        self, make_bus: MakeBus, prefix: str
    ) -> None:
        bus = await make_bus()
        follower = await bus.follow(f"{prefix}.>", from_start=True)
        await bus.publish(_messages(prefix, "usage.recorded", range(2)))
        assert _ids(await follower.fetch(10, 2.0)) == ["usage.recorded-0", "usage.recorded-1"]

        durable = await bus.consumer("ledger", f"{prefix}.>")

        assert _ids(await durable.fetch(10, 2.0)) == ["usage.recorded-0", "usage.recorded-1"]

    async def test_invalid_filter_is_refused(self, make_bus: MakeBus, prefix: str) -> None:
        bus = await make_bus()
        with pytest.raises(ValueError):
            await bus.consumer("bad", f"{prefix}.>.x")
        with pytest.raises(ValueError):
            await bus.follow(f"{prefix}..x", from_start=True)


class PersistentBusContract(BusContract):
    """For buses whose stream outlives the bus object (a file, a server)."""

    async def test_durable_resumes_after_a_new_bus(self, make_bus: MakeBus, prefix: str) -> None:
        bus = await make_bus()
        await bus.publish(_messages(prefix, "usage.recorded", range(4)))
        consumer = await bus.consumer("ledger", f"{prefix}.>")
        got = await consumer.fetch(10, 2.0)
        await consumer.ack([got[0], got[2]])  # NOTE: out of order: 1 stays unacked
        await consumer.aclose()
        await bus.aclose()

        restarted = await make_bus()
        await restarted.publish(_messages(prefix, "usage.recorded", range(4, 5)))
        resumed = await restarted.consumer("ledger", f"{prefix}.>")
        got = await resumed.fetch(10, 2.0)

        assert _ids(got) == ["usage.recorded-1", "usage.recorded-3", "usage.recorded-4"]
        await resumed.ack(got)
        assert await resumed.fetch(10, 0.3) == []
        replay = await restarted.follow(f"{prefix}.>", from_start=True)
        assert len(await replay.fetch(10, 2.0)) == 5
