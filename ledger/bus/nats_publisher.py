"""``JetStreamPublisher``: publish a batch to JetStream and wait until every message is acked.

What nats-py's ``JetStreamContext.publish_async`` gives per message — a NUID reply token, a future
with a done callback, a semaphore slot, ``json.loads`` and a ``PubAck`` dataclass per ack — is done
here once per BATCH, over one wildcard reply subscription per connection:

* every message of batch ``b`` carries the reply subject ``<inbox>.<b>.<index>``, so an ack names
  its batch and its message; a late ack of a batch that already gave up finds no batch and is
  dropped, and a second ack for one index is ignored, so neither can complete a later batch;
* the batch's one future completes when every index has been answered (acked or refused);
* an ack is recognised without decoding it (``{"stream":...`` with no ``"error"``); only other
  replies are decoded, into the error nats-py would have produced;
* at most ``max_pending`` messages await their ack at once, over all batches (``publish_async``'s
  window): a batch larger than the free room is sent in pieces as acks come back.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Sequence

from nats.aio.client import Client
from nats.aio.msg import Msg
from nats.js.errors import APIError, NoStreamResponseError

from ledger.bus.base import BusMessage, BusUnavailable
from ledger.bus.nats_wire import HpubEncoder, write_frames

__all__ = ["JetStreamPublisher"]

_ACK_START = b'{"stream":'
_ERROR_KEY = b'"error"'
_NO_RESPONDERS = "503"
"""A reply's status when no stream takes the subject (``NoStreamResponseError``)."""


class _Batch:
    """One ``publish`` call in flight: which of its messages have been answered, and how."""

    __slots__ = ("answered", "done", "failures", "key", "replies", "sent", "size")

    def __init__(self, key: str, size: int) -> None:
        self.key = key
        self.size = size
        self.sent = 0
        self.replies = 0
        self.answered = bytearray(size)
        self.failures: list[Exception] = []
        self.done: asyncio.Future[None] = asyncio.get_running_loop().create_future()

    def answer(self, index: int, failure: Exception | None) -> bool:
        """Record the reply for message ``index``; False if it was answered already."""
        if not 0 <= index < self.sent or self.answered[index]:
            return False
        self.answered[index] = 1
        self.replies += 1
        if failure is not None:
            self.failures.append(failure)
        if self.replies == self.size and not self.done.done():
            self.done.set_result(None)
        return True


class JetStreamPublisher:
    """Batches to one JetStream stream over one connection; see the module docstring."""

    def __init__(self, nc: Client, stream: str, max_pending: int) -> None:
        self._nc = nc
        self._encoder = HpubEncoder(stream)
        self._max_pending = max_pending
        self._in_flight = 0
        self._room = asyncio.Event()
        self._batches: dict[str, _Batch] = {}
        self._batch_count = 0
        self._inbox = ""
        self._token_at = 0
        self._closed = False

    async def open(self) -> None:
        """Subscribe to the replies (the client renews the subscription after a reconnect)."""
        self._inbox = self._nc.new_inbox()
        self._token_at = len(self._inbox) + 1
        await self._nc.subscribe(f"{self._inbox}.*.*", cb=self._on_reply)

    async def publish(self, messages: Sequence[BusMessage], timeout_s: float) -> list[Exception]:
        """Send ``messages`` and wait for all their replies; the refusals, if any.

        Raises:
            BusUnavailable: not every message was answered within ``timeout_s``, or the
                publisher was closed meanwhile.
            nats.errors.Error, OSError: the frames could not be queued on the connection.
        """
        self._batch_count += 1
        batch = _Batch(str(self._batch_count), len(messages))
        self._batches[batch.key] = batch
        try:
            async with asyncio.timeout(timeout_s):
                await self._send(batch, messages)
                await batch.done
        except TimeoutError:
            raise BusUnavailable(
                f"NATS acknowledged {batch.replies} of {batch.size} messages within {timeout_s}s"
            ) from None
        finally:
            self._forget(batch)
        return batch.failures

    def close(self) -> None:
        """Fail every batch still waiting (their replies can no longer arrive)."""
        self._closed = True
        self._room.set()
        for batch in self._batches.values():
            if not batch.done.done():
                batch.done.set_exception(_closing())

    async def _send(self, batch: _Batch, messages: Sequence[BusMessage]) -> None:
        reply_prefix = f"{self._inbox}.{batch.key}.".encode()
        while batch.sent < batch.size:
            if self._closed:
                raise _closing()
            room = self._max_pending - self._in_flight
            if room <= 0:
                self._room.clear()
                await self._room.wait()
                continue
            start = batch.sent
            stop = min(batch.size, start + room)
            frames, payload_bytes = self._encoder.frames(
                messages, start, stop, reply_prefix, self._nc.max_payload
            )
            # NOTE: counted before the await: a concurrent batch must see the room as taken.
            self._in_flight += stop - start
            batch.sent = stop
            await write_frames(self._nc, frames, stop - start, payload_bytes)

    def _forget(self, batch: _Batch) -> None:
        del self._batches[batch.key]
        self._release(batch.sent - batch.replies)
        if not batch.done.done():
            batch.done.cancel()
        elif not batch.done.cancelled():
            batch.done.exception()  # NOTE: marks a close() error seen when sending failed first.

    def _release(self, count: int) -> None:
        self._in_flight -= count
        if count and not self._room.is_set():
            self._room.set()

    async def _on_reply(self, msg: Msg) -> None:
        key, _, index = msg.subject[self._token_at :].partition(".")
        batch = self._batches.get(key)
        if batch is None:
            return  # NOTE: that batch gave up (timeout, cancel) and already released its room.
        data = msg.data
        # PERF: an ack needs no JSON decode and no PubAck; only a refusal is decoded.
        if msg.headers is None and data.startswith(_ACK_START) and _ERROR_KEY not in data:
            failure = None
        else:
            failure = _refusal(msg)
        if batch.answer(int(index), failure):
            self._release(1)


def _closing() -> BusUnavailable:
    return BusUnavailable("NATS publish was cancelled (connection closing)")


def _refusal(msg: Msg) -> Exception | None:
    """The error a non-trivial reply stands for (what nats-py's ``publish_async`` would raise)."""
    if msg.headers and msg.headers.get("Status") == _NO_RESPONDERS:
        return NoStreamResponseError()
    try:
        reply = json.loads(msg.data)
    except ValueError:
        return APIError(description=f"unreadable PubAck {msg.data[:200]!r}")
    if not isinstance(reply, dict):
        return APIError(description=f"unexpected PubAck {msg.data[:200]!r}")
    if "error" in reply:
        return _api_error(reply["error"])
    if "seq" not in reply:
        return APIError(description=f"unexpected PubAck {msg.data[:200]!r}")
    return None


def _api_error(error: object) -> APIError:
    """``APIError.from_error`` (which raises its result) as a value."""
    try:
        APIError.from_error(error)  # type: ignore[arg-type]  # checked by the except below
    except APIError as exc:
        return exc
    except (KeyError, TypeError):
        pass
    return APIError(description=f"unexpected JetStream error {error!r}")
