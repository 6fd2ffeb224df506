"""Ids: random ones have the shape of ``uuid4().hex``; time-ordered ones are RFC 9562 version 7."""

from __future__ import annotations

import re
import time
import uuid

from schemas.ids import random_hex_id, time_ordered_uuid


def test_random_ids_are_32_hex_digits_and_do_not_repeat() -> None:
    ids = [random_hex_id() for _ in range(10_000)]
    assert all(re.fullmatch(r"[0-9a-f]{32}", value) for value in ids)
    assert len(set(ids)) == len(ids)


def test_time_ordered_ids_are_version_7_and_distinct() -> None:
    ids = [time_ordered_uuid() for _ in range(10_000)]
    assert all(value.version == 7 and value.variant == uuid.RFC_4122 for value in ids)
    assert len(set(ids)) == len(ids)


def test_time_ordered_ids_start_with_the_unix_milliseconds_so_they_sort_by_time() -> None:
    before = time.time_ns() // 1_000_000
    first = time_ordered_uuid()
    time.sleep(0.002)
    second = time_ordered_uuid()
    after = time.time_ns() // 1_000_000
    assert before <= first.int >> 80 <= second.int >> 80 <= after
    assert first < second and first.hex < second.hex  # the order the indexes see
