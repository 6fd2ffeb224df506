"""The spill file keeps every complete batch and sets a torn tail aside instead of deleting it."""

from __future__ import annotations

from pathlib import Path

import pytest

from ledger.bus import BusMessage
from ledger.bus.spill import SpillCorrupted, SpillFile


def _batch(start: int, count: int) -> list[BusMessage]:
    return [
        BusMessage(subject=f"llmux.t.{i}", data=b"\x00\n" + bytes([i % 256]) * i, msg_id=f"id-{i}")
        for i in range(start, start + count)
    ]


def test_records_read_back_in_order_across_reopen(tmp_path: Path) -> None:
    path = str(tmp_path / "sub" / "spill.bin")
    spill = SpillFile(path)
    assert spill.open() == 0
    spill.append(_batch(0, 3))
    size = spill.append(_batch(3, 2))
    spill.close()

    reopened = SpillFile(path)
    assert reopened.open() == size
    first, offset = reopened.read(0, 4)
    rest, end = reopened.read(offset, 10)

    assert first + rest == _batch(0, 5)
    assert end == size
    assert reopened.read(end, 10) == ([], end)
    reopened.clear()
    assert reopened.read(0, 10) == ([], 0)


def test_a_torn_tail_is_moved_aside(tmp_path: Path) -> None:
    path = tmp_path / "spill.bin"
    spill = SpillFile(str(path))
    spill.open()
    good = spill.append(_batch(0, 2))
    spill.close()
    with open(path, "ab") as handle:
        handle.write(b"\x00\x00\x01\x00partial")  # a record header promising 256 bytes, then less

    reopened = SpillFile(str(path))

    assert reopened.open() == good
    assert reopened.read(0, 10)[0] == _batch(0, 2)
    assert (tmp_path / "spill.bin.torn").read_bytes() == b"\x00\x00\x01\x00partial"


def test_a_damaged_record_is_reported_not_skipped(tmp_path: Path) -> None:
    path = tmp_path / "spill.bin"
    spill = SpillFile(str(path))
    spill.open()
    spill.append(_batch(0, 2))
    data = bytearray(path.read_bytes())
    data[12] ^= 0xFF  # inside the first record's body
    path.write_bytes(bytes(data))

    with pytest.raises(SpillCorrupted):
        spill.read(0, 10)
