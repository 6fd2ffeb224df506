"""HPUB frames for a whole batch, written to a nats-py connection in one go.

This is the one module that touches nats-py internals (``Client._send_command``,
``Client._flush_queue``, ``Client._flush_pending``), on purpose and nowhere else.

PERF: ``Client.publish`` costs ~4 µs per message here (a chain of coroutines per message, the
subject regex twice, the header dict validated and encoded key by key with a regex and
``str.translate``, ``hpub_cmd`` formatting, a pending-list append per message): with it,
``JetStreamPublisher`` cost 10.5 µs of CPU per message in ``bench/nats_publish.py`` (uvloop,
batches of 64); formatting the batch's frames here and handing them over as ONE pending command
(one flush kick, one ``writelines`` item) costs 6.8. The frames are byte for byte what
``Client.publish(subject, data, reply=..., headers=...)`` writes, and the checks it makes first are
made here too (connection state, subject, payload size). Should these internals change, the bus
tests fail at once.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

import nats.errors
from nats.aio.client import Client

from ledger.bus.base import BusMessage

__all__ = ["HpubEncoder", "write_frames"]

_SUBJECT_INVALID = re.compile(r"[ \t\r\n]")
"""What nats-py refuses in a published subject (a space or CRLF would inject protocol)."""

_NEWLINES_TO_SPACES = str.maketrans({"\r": " ", "\n": " "})


class HpubEncoder:
    """HPUB frames carrying ``Nats-Expected-Stream: <stream>`` and ``Nats-Msg-Id: <msg_id>``."""

    def __init__(self, stream: str) -> None:
        self._head = b"NATS/1.0\r\nNats-Expected-Stream: %b\r\nNats-Msg-Id: " % stream.encode()
        self._fixed_header_len = len(self._head) + 4  # the id's CRLF and the blank line's CRLF

    def frames(
        self,
        messages: Sequence[BusMessage],
        start: int,
        stop: int,
        reply_prefix: bytes,
        max_payload: int,
    ) -> tuple[bytes, int]:
        """``messages[start:stop]`` as HPUB frames (reply ``<reply_prefix><index>``), payload bytes.

        Raises:
            nats.errors.BadSubjectError: a subject is empty or holds whitespace.
            nats.errors.MaxPayloadError: a payload is larger than the server accepts.
        """
        head = self._head
        fixed = self._fixed_header_len
        parts: list[bytes] = []
        payload_bytes = 0
        for index in range(start, stop):
            message = messages[index]
            subject = message.subject
            if not subject or _SUBJECT_INVALID.search(subject):
                raise nats.errors.BadSubjectError
            data = message.data
            if len(data) > max_payload:
                raise nats.errors.MaxPayloadError
            msg_id = _header_value(message.msg_id)
            header_len = fixed + len(msg_id)
            parts.append(
                b"HPUB %b %b%d %d %d\r\n%b%b\r\n\r\n"
                % (
                    subject.encode(),
                    reply_prefix,
                    index,
                    header_len,
                    header_len + len(data),
                    head,
                    msg_id,
                )
            )
            # PERF: the payload joins the output once, not first copied into a formatted frame.
            parts.append(data)
            parts.append(b"\r\n")
            payload_bytes += len(data)
        return b"".join(parts), payload_bytes


def _header_value(value: str) -> bytes:
    """``value`` as nats-py writes a header value: stripped, CR/LF turned into spaces."""
    value = value.strip()
    if "\r" in value or "\n" in value:
        value = value.translate(_NEWLINES_TO_SPACES)
    return value.encode()


async def write_frames(nc: Client, frames: bytes, messages: int, payload_bytes: int) -> None:
    """Queue ``frames`` (``messages`` publishes) on ``nc`` and wake its flusher, like ``publish``.

    Unlike ``Client.publish`` this never buffers while the client is reconnecting: the caller
    fails the batch instead (it is retried, and ``Nats-Msg-Id`` makes that safe).

    Raises:
        nats.errors.Error: the connection is closed, draining or reconnecting.
    """
    if nc.is_closed:
        raise nats.errors.ConnectionClosedError
    if nc.is_draining_pubs:
        raise nats.errors.ConnectionDrainingError
    if not nc.is_connected:
        raise nats.errors.ConnectionReconnectingError
    nc.stats["out_msgs"] += messages
    nc.stats["out_bytes"] += payload_bytes
    await nc._send_command(frames)
    if nc._flush_queue is not None and nc._flush_queue.empty():
        await nc._flush_pending()
