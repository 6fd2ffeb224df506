"""The outbox's spill file: an append-only log of bus messages kept while the bus is down.

Format: one record per message, ``>II`` header (body length, CRC-32 of the body) then the body
``>HH`` (subject length, msg id length) + subject + msg id + data. Each ``append`` writes a whole
batch and fsyncs once, so after a crash the file is a valid prefix plus at most one torn batch at
the tail; ``open`` keeps the valid prefix and moves the torn bytes aside (``<path>.torn``) rather
than deleting them.

``SpillFile`` blocks; ``SpillQueue`` is its event-loop face (one I/O thread, plus the
written/re-published positions the outbox drains by).
"""

from __future__ import annotations

import asyncio
import logging
import os
import struct
import zlib
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import BinaryIO, ParamSpec, TypeVar

from ledger.bus.base import BusMessage

__all__ = ["SpillCorrupted", "SpillFile", "SpillQueue"]

_P = ParamSpec("_P")
_T = TypeVar("_T")

_log = logging.getLogger(__name__)

_HEADER = struct.Struct(">II")
_LENGTHS = struct.Struct(">HH")


class SpillCorrupted(ValueError):
    """A record inside the already-validated part of the file no longer checks out."""


class SpillFile:
    """Append, read back from an offset, clear; sizes are in bytes."""

    def __init__(self, path: str) -> None:
        self.path = path
        self._file: BinaryIO | None = None

    def open(self) -> int:
        """Open (creating directories and file); returns the size of the valid content."""
        os.makedirs(os.path.dirname(os.path.abspath(self.path)), exist_ok=True)
        self._file = open(self.path, "a+b")  # noqa: SIM115  # NOTE: held open until close()
        valid = self._valid_length()
        size = self._file.seek(0, os.SEEK_END)
        if valid < size:
            self._set_aside_tail(valid, size)
        return valid

    def close(self) -> None:
        if self._file is not None:
            self._file.close()
            self._file = None

    def append(self, messages: Sequence[BusMessage]) -> int:
        """Append ``messages`` durably (write + fsync); returns the new file size."""
        handle = self._handle()
        handle.seek(0, os.SEEK_END)
        handle.write(b"".join(_encode(message) for message in messages))
        handle.flush()
        os.fsync(handle.fileno())
        return handle.tell()

    def read(self, offset: int, max_messages: int) -> tuple[list[BusMessage], int]:
        """Up to ``max_messages`` records starting at ``offset``; returns them and the next offset.

        Raises:
            SpillCorrupted: a record fails its checksum or is cut short.
        """
        handle = self._handle()
        handle.seek(offset)
        messages: list[BusMessage] = []
        while len(messages) < max_messages:
            record = _read_record(handle)
            if record is None:
                break
            messages.append(record)
        return messages, handle.tell() if messages else offset

    def clear(self) -> None:
        """Empty the file (everything in it was published)."""
        handle = self._handle()
        handle.truncate(0)
        handle.flush()
        os.fsync(handle.fileno())

    def _handle(self) -> BinaryIO:
        if self._file is None:
            raise RuntimeError("SpillFile.open() was not called")
        return self._file

    def _valid_length(self) -> int:
        handle = self._handle()
        handle.seek(0)
        valid = 0
        while True:
            try:
                if _read_record(handle) is None:
                    return valid
            except SpillCorrupted:
                return valid
            valid = handle.tell()

    def _set_aside_tail(self, valid: int, size: int) -> None:
        handle = self._handle()
        handle.seek(valid)
        tail = handle.read(size - valid)
        with open(f"{self.path}.torn", "ab") as aside:
            aside.write(tail)
            aside.flush()
            os.fsync(aside.fileno())
        handle.truncate(valid)
        handle.flush()
        os.fsync(handle.fileno())
        _log.warning(
            "spill file %s ended in %d bytes of a torn write; moved them to %s.torn",
            self.path,
            size - valid,
            self.path,
        )


class SpillQueue:
    """A ``SpillFile`` used as a FIFO from the event loop: append at the end, drain from the front.

    The file is emptied (truncated) only once everything in it has been re-published, so a crash at
    any point leaves every unpublished message on disk (and perhaps some published ones, which the
    bus dedupes by message id).
    """

    def __init__(self, path: str) -> None:
        self._file = SpillFile(path)
        self._io: ThreadPoolExecutor | None = None
        self.size = 0
        """Bytes in the file (0 when empty)."""
        self._drained_to = 0
        self._next_offset = 0

    @property
    def path(self) -> str:
        return self._file.path

    async def open(self) -> None:
        """Open the file on a new I/O thread; ``size`` tells whether a previous run left data."""
        self._io = ThreadPoolExecutor(max_workers=1, thread_name_prefix="llmux-spill")
        self.size = await self._on_io(self._file.open)

    async def close(self) -> None:
        if self._io is not None:
            await self._on_io(self._file.close)
            self._io.shutdown(wait=True)
            self._io = None

    async def append(self, messages: Sequence[BusMessage]) -> None:
        """Append durably. Raises ``OSError`` (disk full...) with nothing appended."""
        self.size = await self._on_io(self._file.append, messages)

    async def oldest(self, max_messages: int) -> list[BusMessage]:
        """The oldest messages not yet re-published (the same ones until ``published()``)."""
        messages, self._next_offset = await self._on_io(
            self._file.read, self._drained_to, max_messages
        )
        return messages

    async def published(self) -> bool:
        """Mark what ``oldest`` returned as published; empty the file once all is. True if empty."""
        self._drained_to = self._next_offset
        if self._drained_to < self.size:
            return False
        await self._on_io(self._file.clear)
        self.size = self._drained_to = self._next_offset = 0
        return True

    async def _on_io(self, fn: Callable[_P, _T], *args: _P.args, **kwargs: _P.kwargs) -> _T:
        if self._io is None:
            raise RuntimeError("SpillQueue.open() was not awaited")
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._io, lambda: fn(*args, **kwargs))


def _encode(message: BusMessage) -> bytes:
    subject = message.subject.encode()
    msg_id = message.msg_id.encode()
    body = b"".join((_LENGTHS.pack(len(subject), len(msg_id)), subject, msg_id, message.data))
    return _HEADER.pack(len(body), zlib.crc32(body)) + body


def _read_record(handle: BinaryIO) -> BusMessage | None:
    """The next record, ``None`` at a clean end of file."""
    header = handle.read(_HEADER.size)
    if not header:
        return None
    if len(header) < _HEADER.size:
        raise SpillCorrupted("record header cut short")
    length, crc = _HEADER.unpack(header)
    body = handle.read(length)
    if len(body) < length or zlib.crc32(body) != crc or length < _LENGTHS.size:
        raise SpillCorrupted("record body cut short or checksum mismatch")
    subject_len, id_len = _LENGTHS.unpack_from(body)
    start = _LENGTHS.size
    subject = body[start : start + subject_len].decode()
    msg_id = body[start + subject_len : start + subject_len + id_len].decode()
    return BusMessage(subject=subject, data=body[start + subject_len + id_len :], msg_id=msg_id)
