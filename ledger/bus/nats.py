"""``NatsBus``: the distributed bus on NATS JetStream (one stream, durable pull consumers).

Failure behaviour is the point of this module:

* ``start()`` fails fast with ``BusUnavailable("cannot reach NATS at <url>: ...")`` instead of
  nats-py's default of 60 reconnect attempts; once connected, the client reconnects forever.
* ``publish`` never waits longer than ``publish_timeout_s``: it fails at once while the connection
  is down, and otherwise sends the whole batch through ``JetStreamPublisher`` (``Nats-Msg-Id`` =
  the event id, so a retried batch is stored once) and waits for every ack against one deadline.
* Every nats-py exception is translated to ``BusUnavailable`` here (``nats_errors.translated``).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence
from dataclasses import replace

from nats.aio.client import Client
from nats.js import JetStreamContext
from nats.js.api import StorageType, StreamConfig
from nats.js.errors import NoStreamResponseError, NotFoundError

from ledger.bus.base import Bus, BusMessage, BusUnavailable, Consumer
from ledger.bus.nats_errors import NATS_FAILURES, describe, redact_url, translated
from ledger.bus.nats_publisher import JetStreamPublisher
from ledger.bus.nats_readers import NatsDurableConsumer, NatsFollower, ReaderSettings
from ledger.bus.subjects import SubjectFilter

__all__ = ["NatsBus"]

_log = logging.getLogger(__name__)

_DUPLICATE_WINDOW_S = 120.0
"""JetStream dedupes ``Nats-Msg-Id`` within this window (the server default, written out)."""


class NatsBus(Bus):
    """JetStream stream ``stream`` holding every subject under ``<subject_prefix>.>``."""

    def __init__(
        self,
        url: str,
        stream: str = "LLMUX",
        subject_prefix: str = "llmux",
        publish_timeout_s: float = 2.0,
        *,
        connect_timeout_s: float = 2.0,
        reconnect_wait_s: float = 0.5,
        request_timeout_s: float = 2.0,
        ack_wait_s: float = 30.0,
        max_pending_publishes: int = 4000,
        consumer_check_interval_s: float = 5.0,
        max_age_s: float = 0.0,
    ) -> None:
        """Configure; nothing connects before ``start()``.

        Args:
            url: ``nats://host:port`` (credentials in the URL are never logged).
            stream: JetStream stream name, created if absent.
            subject_prefix: the stream takes ``<subject_prefix>.>``.
            publish_timeout_s: longest wait for one ``publish`` batch to be acknowledged.
            connect_timeout_s: longest wait for the first connection in ``start()``.
            reconnect_wait_s: pause between reconnect attempts at run time (forever).
            request_timeout_s: JetStream API calls (stream/consumer info, create).
            ack_wait_s: durable consumers redeliver a message not acked within this time.
            max_pending_publishes: window of published messages awaiting their ack.
            consumer_check_interval_s: how often an idle reader checks that its consumer still
                exists (and recreates it where it left off if not).
            max_age_s: the stream's ``max_age``: the server removes messages older than this
                (0: never). Set on the stream at ``start()``, also when it already exists.
        """
        self._url = url
        self._stream = stream
        self._prefix = subject_prefix
        self._publish_timeout_s = publish_timeout_s
        self._connect_timeout_s = connect_timeout_s
        self._reconnect_wait_s = reconnect_wait_s
        self._max_pending = max_pending_publishes
        self._max_age_s = max_age_s
        self._settings = ReaderSettings(
            stream=stream,
            request_timeout_s=request_timeout_s,
            ack_wait_s=ack_wait_s,
            check_interval_s=consumer_check_interval_s,
        )
        self._nc: Client | None = None
        self._js: JetStreamContext | None = None
        self._publisher: JetStreamPublisher | None = None
        self._last_error: BaseException | None = None

    @property
    def stream(self) -> str:
        return self._stream

    @property
    def is_connected(self) -> bool:
        """Whether the connection is up right now (it reconnects by itself)."""
        return self._nc is not None and self._nc.is_connected

    async def start(self) -> None:
        nc = Client()
        try:
            await asyncio.wait_for(self._connect(nc), self._connect_timeout_s)
        except NATS_FAILURES as exc:
            await _discard(nc)
            cause = self._last_error or exc
            raise BusUnavailable(
                f"cannot reach NATS at {redact_url(self._url)}: {describe(cause)}"
            ) from exc
        self._nc = nc
        self._js = nc.jetstream(timeout=self._settings.request_timeout_s)
        publisher = JetStreamPublisher(nc, self._stream, self._max_pending)
        try:
            with translated("cannot subscribe to JetStream acks"):
                await publisher.open()
            self._publisher = publisher
            await self._ensure_stream()
        except BusUnavailable:
            await self.aclose()
            raise

    async def publish(self, messages: Sequence[BusMessage]) -> None:
        if not messages:
            return
        publisher = self._connected_publisher()
        try:
            failures = await publisher.publish(messages, self._publish_timeout_s)
        except NATS_FAILURES as exc:
            raise BusUnavailable(f"NATS publish failed: {describe(exc)}") from exc
        if failures:
            await self._raise_refused(failures, len(messages))

    async def consumer(self, durable: str, subject_filter: str) -> Consumer:
        SubjectFilter(subject_filter)
        nc, js = self._connection()
        reader = NatsDurableConsumer(nc, js, self._settings, durable, subject_filter)
        await reader.open()
        return reader

    async def follow(self, subject_filter: str, from_start: bool) -> Consumer:
        SubjectFilter(subject_filter)
        nc, js = self._connection()
        reader = NatsFollower(nc, js, self._settings, subject_filter, from_start)
        await reader.open()
        return reader

    async def aclose(self) -> None:
        nc, self._nc, self._js = self._nc, None, None
        publisher, self._publisher = self._publisher, None
        if publisher is not None:
            publisher.close()
        if nc is not None:
            await _discard(nc)

    async def _connect(self, nc: Client) -> None:
        await nc.connect(
            self._url,
            name="llmux",
            allow_reconnect=True,
            max_reconnect_attempts=-1,
            reconnect_time_wait=self._reconnect_wait_s,  # type: ignore[arg-type]  # float works
            connect_timeout=self._connect_timeout_s,  # type: ignore[arg-type]  # float works
            error_cb=self._on_error,
            disconnected_cb=self._on_disconnected,
            reconnected_cb=self._on_reconnected,
        )

    async def _ensure_stream(self) -> None:
        js = self._connected_js()
        with translated(f"cannot create JetStream stream {self._stream}"):
            try:
                info = await js.stream_info(self._stream)
            except NotFoundError:
                await js.add_stream(
                    StreamConfig(
                        name=self._stream,
                        subjects=[f"{self._prefix}.>"],
                        storage=StorageType.FILE,
                        duplicate_window=self._duplicate_window_s(),
                        max_age=self._max_age_s,
                    )
                )
                _log.info("created JetStream stream %s for %s.>", self._stream, self._prefix)
                return
            if (info.config.max_age or 0.0) != self._max_age_s:
                await js.update_stream(replace(info.config, max_age=self._max_age_s,
                                               duplicate_window=self._duplicate_window_s()))
                _log.info("JetStream stream %s now keeps messages for %s s (0: forever)",
                          self._stream, f"{self._max_age_s:g}")

    def _duplicate_window_s(self) -> float:
        """JetStream refuses a duplicate window longer than the stream's ``max_age``."""
        if self._max_age_s:
            return min(_DUPLICATE_WINDOW_S, self._max_age_s)
        return _DUPLICATE_WINDOW_S

    async def _raise_refused(self, failures: list[Exception], total: int) -> None:
        first = failures[0]
        if any(isinstance(exc, NoStreamResponseError) for exc in failures):
            # NOTE: the stream is gone (deleted, or a wiped data dir): recreate it so the retry
            # that follows this error succeeds.
            try:
                await self._ensure_stream()
            except BusUnavailable as exc:
                _log.warning("JetStream stream %s is missing: %s", self._stream, exc)
        raise BusUnavailable(
            f"NATS refused {len(failures)} of {total} messages: {describe(first)}"
        ) from first

    def _connected_publisher(self) -> JetStreamPublisher:
        self._connection()
        if self._publisher is None:
            raise BusUnavailable("NatsBus is not started")
        return self._publisher

    def _connected_js(self) -> JetStreamContext:
        return self._connection()[1]

    def _connection(self) -> tuple[Client, JetStreamContext]:
        if self._js is None or self._nc is None:
            raise BusUnavailable("NatsBus is not started")
        if not self._nc.is_connected:
            raise BusUnavailable(f"NATS at {redact_url(self._url)} is disconnected (reconnecting)")
        return self._nc, self._js

    async def _on_error(self, exc: Exception) -> None:
        self._last_error = exc
        _log.debug("nats: %s", describe(exc))

    async def _on_disconnected(self) -> None:
        if self._nc is not None:
            _log.warning("lost the connection to NATS at %s", redact_url(self._url))

    async def _on_reconnected(self) -> None:
        _log.warning("reconnected to NATS at %s", redact_url(self._url))


_CLOSE_FAILURES: tuple[type[BaseException], ...] = (*NATS_FAILURES, AssertionError)


async def _discard(nc: Client) -> None:
    try:
        await nc.close()
    except _CLOSE_FAILURES as exc:
        # NOTE: closing a client whose first connect never finished trips an assert in nats-py.
        _log.debug("closing the NATS client: %s", describe(exc))
