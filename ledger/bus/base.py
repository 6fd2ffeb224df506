"""The bus interface: one append-only stream of event messages, read by durable consumers.

Two implementations share this contract and one contract test suite: ``LocalBus`` (in process,
standalone mode) and ``NatsBus`` (JetStream, distributed mode). The semantics are JetStream's:
every stored message gets a sequence number, a message id seen before is acknowledged but not stored
again, and a durable consumer resumes after the last message it acked, across restarts.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Sequence
from dataclasses import dataclass

__all__ = ["Bus", "BusMessage", "BusUnavailable", "Consumer", "Delivery"]


class BusUnavailable(Exception):
    """The bus could not take or give messages now (connection down, timeout). Retry later."""


@dataclass(frozen=True, slots=True)
class BusMessage:
    """A message to publish."""

    subject: str
    """Full subject, e.g. ``llmux.usage.recorded``."""
    data: bytes
    msg_id: str
    """Deduplication id (the event id); JetStream's ``Nats-Msg-Id``."""


@dataclass(frozen=True, slots=True)
class Delivery:
    """A message handed to a consumer; ack it once it is safely processed."""

    subject: str
    data: bytes
    msg_id: str
    sequence: int
    """Stream sequence number (1-based, increasing in stream order)."""
    token: object = None
    """Implementation handle needed to ack (the NATS message); opaque to callers."""


class Consumer(ABC):
    """A pull consumer on a subject filter, from ``Bus.consumer`` (durable) or ``Bus.follow``."""

    @abstractmethod
    async def fetch(self, max_messages: int, timeout_s: float) -> list[Delivery]:
        """Up to ``max_messages`` unacked messages, in stream order; ``[]`` after ``timeout_s``.

        Messages fetched but not acked are delivered again (after a restart, or an ack wait).

        Raises:
            BusUnavailable: the bus cannot be reached.
        """

    @abstractmethod
    async def ack(self, deliveries: Sequence[Delivery]) -> None:
        """Mark ``deliveries`` processed; they are never delivered to this consumer again."""

    @abstractmethod
    async def aclose(self) -> None:
        """Release resources; the durable position survives."""

    async def pending(self) -> int | None:
        """Messages on this consumer's filter not yet acked (delivered or not): how far behind
        its reader is. ``None`` where the bus does not keep the count per consumer.

        A round trip on a remote bus: for metrics and probes, never per message.

        Raises:
            BusUnavailable: the bus cannot be reached.
        """
        return None


class Bus(ABC):
    """Where events go after the hot path hands them over, and where the ledger reads them."""

    @abstractmethod
    async def start(self) -> None:
        """Connect and create the stream if absent.

        Raises:
            BusUnavailable: the bus cannot be reached (at startup this is a clear error).
        """

    @abstractmethod
    async def publish(self, messages: Sequence[BusMessage]) -> None:
        """Store every message durably (dedupe by ``msg_id``); return once all are acknowledged.

        Raises:
            BusUnavailable: some messages may not be stored; publishing them again is safe.
        """

    @abstractmethod
    async def consumer(self, durable: str, subject_filter: str) -> Consumer:
        """The durable consumer ``durable`` on ``subject_filter`` (``llmux.>``, ``llmux.admin.>``).

        Created if absent; an existing one resumes where it left off. Several consumer objects
        on one durable share its messages (work queue); fetched-but-unacked messages go to a new
        consumer object after the old one is closed, or after the ack wait.

        Raises:
            BusUnavailable: the bus cannot be reached.
            ValueError: ``subject_filter`` is not a valid NATS filter.
        """

    @abstractmethod
    async def follow(self, subject_filter: str, from_start: bool) -> Consumer:
        """A non-durable reader that sees EVERY message on ``subject_filter`` (fan-out).

        Each ingress instance follows ``llmux.admin.>`` this way so admin changes reach all of them.
        ``from_start=True`` replays the stored stream from its beginning, ``False`` delivers only
        messages published after this call. Its position lives in memory (it survives a bus
        reconnect, not a process restart); ``ack`` is accepted and does nothing.

        Raises:
            BusUnavailable: the bus cannot be reached.
            ValueError: ``subject_filter`` is not a valid NATS filter.
        """

    @abstractmethod
    async def aclose(self) -> None:
        """Disconnect; messages already published stay stored."""

    @property
    def backlog(self) -> int | None:
        """Messages stored that a durable consumer has yet to process, when the bus knows it
        without a round trip (the local bus); ``None`` otherwise."""
        return None

    def has_room(self) -> bool:
        """False while the bus's durable consumers lag too far behind its publishers.

        The request path checks it once per request (``Outbox.wait_for_room``), so it must be a
        cheap, synchronous read. A bus without a bound on its backlog always has room.
        """
        return True

    async def wait_for_room(self) -> None:
        """Return once ``has_room()`` (at once for a bus without a bound) or the bus closes."""
        return None
