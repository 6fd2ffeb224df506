"""JetStream pull consumers behind the ``Consumer`` interface: durable readers and followers.

A pull request sent to a consumer that no longer exists (an ephemeral follower after a long outage,
a durable deleted by an operator) is silently never answered, so a reader whose fetch comes back
empty checks, at most every ``check_interval_s``, that its consumer still exists and recreates it
where it left off.
"""

from __future__ import annotations

import asyncio
import logging
import uuid
from abc import abstractmethod
from collections.abc import Sequence
from dataclasses import dataclass

from nats.aio.client import Client
from nats.aio.msg import Msg
from nats.js import JetStreamContext
from nats.js.api import AckPolicy, ConsumerConfig, DeliverPolicy
from nats.js.errors import NotFoundError

from ledger.bus.base import BusUnavailable, Consumer, Delivery
from ledger.bus.nats_errors import NATS_FAILURES, describe, translated

__all__ = ["NatsDurableConsumer", "NatsFollower", "ReaderSettings"]

_log = logging.getLogger(__name__)

_MIN_FETCH_S = 0.01
"""nats-py rejects a fetch timeout of 0; shorter waits are rounded up to this."""


@dataclass(frozen=True, slots=True)
class ReaderSettings:
    """What every reader of one ``NatsBus`` shares."""

    stream: str
    request_timeout_s: float
    ack_wait_s: float
    follower_inactive_s: float = 30.0
    """The server deletes a follower nobody fetched from for this long (a dead instance's)."""
    check_interval_s: float = 5.0


class _PullReader(Consumer):
    """Fetch/convert/recreate logic shared by durable consumers and followers."""

    def __init__(
        self, nc: Client, js: JetStreamContext, settings: ReaderSettings, subject_filter: str
    ) -> None:
        self._nc = nc
        self._js = js
        self._settings = settings
        self._filter = subject_filter
        self._sub: JetStreamContext.PullSubscription | None = None
        self._checked_at = 0.0

    @abstractmethod
    async def _subscribe(self) -> JetStreamContext.PullSubscription:
        """Create (or bind to) the consumer (again, after it vanished)."""

    async def open(self) -> None:
        """Create (or bind to) the consumer."""
        with translated(f"cannot create a JetStream consumer on {self._filter}"):
            self._sub = await self._subscribe()
        self._checked_at = asyncio.get_running_loop().time()

    async def fetch(self, max_messages: int, timeout_s: float) -> list[Delivery]:
        sub = self._subscription()
        try:
            messages = await sub.fetch(max_messages, timeout=max(timeout_s, _MIN_FETCH_S))
        except TimeoutError:
            await self._check_consumer()
            return []
        except NATS_FAILURES as exc:
            raise BusUnavailable(f"NATS fetch failed: {describe(exc)}") from exc
        deliveries = [_delivery(message) for message in messages]
        self._received(deliveries)
        return deliveries

    async def aclose(self) -> None:
        await self._unsubscribe()

    async def _unsubscribe(self) -> None:
        sub, self._sub = self._sub, None
        if sub is not None and not self._nc.is_closed:
            try:
                await sub.unsubscribe()
            except NATS_FAILURES as exc:
                _log.debug("unsubscribing a pull consumer: %s", describe(exc))

    def _received(self, deliveries: list[Delivery]) -> None:
        """Hook: note what was handed out."""

    def _subscription(self) -> JetStreamContext.PullSubscription:
        if self._sub is None:
            raise BusUnavailable("the consumer is closed")
        if not self._nc.is_connected:
            raise BusUnavailable("NATS is disconnected (reconnecting)")
        return self._sub

    async def _check_consumer(self) -> None:
        loop = asyncio.get_running_loop()
        if loop.time() - self._checked_at < self._settings.check_interval_s:
            return
        sub = self._subscription()
        with translated("cannot check the JetStream consumer"):
            try:
                await sub.consumer_info()
            except NotFoundError:
                _log.warning("JetStream consumer on %s vanished; recreating it", self._filter)
                await self._unsubscribe()
                self._sub = await self._subscribe()
        self._checked_at = loop.time()


def _delivery(message: Msg) -> Delivery:
    headers = message.headers or {}
    return Delivery(
        subject=message.subject,
        data=message.data,
        msg_id=headers.get("Nats-Msg-Id", ""),
        sequence=message.metadata.sequence.stream,
        token=message,
    )


class NatsDurableConsumer(_PullReader):
    """A durable pull consumer with explicit acks; closing it naks what it did not ack."""

    def __init__(
        self,
        nc: Client,
        js: JetStreamContext,
        settings: ReaderSettings,
        durable: str,
        subject_filter: str,
    ) -> None:
        super().__init__(nc, js, settings, subject_filter)
        self._name = durable
        self._unacked: dict[int, Msg] = {}

    async def _subscribe(self) -> JetStreamContext.PullSubscription:
        config = ConsumerConfig(
            durable_name=self._name,
            ack_policy=AckPolicy.EXPLICIT,
            ack_wait=self._settings.ack_wait_s,
            deliver_policy=DeliverPolicy.ALL,
            filter_subject=self._filter,
        )
        return await self._js.pull_subscribe(
            self._filter, durable=self._name, stream=self._settings.stream, config=config
        )

    def _received(self, deliveries: list[Delivery]) -> None:
        for delivery in deliveries:
            self._unacked[delivery.sequence] = _message(delivery)

    async def pending(self) -> int:
        with translated("NATS consumer info failed"):
            info = await self._js.consumer_info(self._settings.stream, self._name,
                                                timeout=self._settings.request_timeout_s)
        return (info.num_pending or 0) + (info.num_ack_pending or 0)

    async def ack(self, deliveries: Sequence[Delivery]) -> None:
        with translated("NATS ack failed"):
            for delivery in deliveries:
                await _message(delivery).ack()
                self._unacked.pop(delivery.sequence, None)

    async def aclose(self) -> None:
        # NOTE: without the nak the next consumer object would wait ack_wait_s for them.
        pending, self._unacked = list(self._unacked.values()), {}
        if self._nc.is_connected:
            try:
                for message in pending:
                    await message.nak()
            except NATS_FAILURES as exc:
                _log.debug("nak on close: %s", describe(exc))
        await super().aclose()


def _message(delivery: Delivery) -> Msg:
    if not isinstance(delivery.token, Msg):
        raise TypeError("this delivery did not come from a NATS consumer")
    return delivery.token


class NatsFollower(_PullReader):
    """An ephemeral pull consumer without acks that remembers its place in memory."""

    def __init__(
        self,
        nc: Client,
        js: JetStreamContext,
        settings: ReaderSettings,
        subject_filter: str,
        from_start: bool,
    ) -> None:
        super().__init__(nc, js, settings, subject_filter)
        self._from_start = from_start
        self._next_seq: int | None = None
        self._name = ""

    async def open(self) -> None:
        if not self._from_start:
            with translated("cannot read the JetStream stream state"):
                info = await self._js.stream_info(self._settings.stream)
            self._next_seq = info.state.last_seq + 1
        await super().open()

    async def _subscribe(self) -> JetStreamContext.PullSubscription:
        self._name = f"follow-{uuid.uuid4().hex}"
        start = DeliverPolicy.ALL if self._next_seq is None else DeliverPolicy.BY_START_SEQUENCE
        config = ConsumerConfig(
            name=self._name,
            ack_policy=AckPolicy.NONE,
            deliver_policy=start,
            opt_start_seq=self._next_seq,
            inactive_threshold=self._settings.follower_inactive_s,
            filter_subject=self._filter,
            mem_storage=True,
        )
        await self._js.add_consumer(self._settings.stream, config=config)
        return await self._js.pull_subscribe_bind(self._name, stream=self._settings.stream)

    def _received(self, deliveries: list[Delivery]) -> None:
        if deliveries:
            self._next_seq = deliveries[-1].sequence + 1

    async def ack(self, deliveries: Sequence[Delivery]) -> None:
        return None

    async def aclose(self) -> None:
        was_open = self._sub is not None
        await super().aclose()
        if was_open and self._nc.is_connected:
            try:
                await self._js.delete_consumer(self._settings.stream, self._name)
            except NATS_FAILURES as exc:
                _log.debug("deleting a follower consumer: %s", describe(exc))
