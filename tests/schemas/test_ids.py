"""Random ids: the shape of ``uuid4().hex``, and distinct."""

from __future__ import annotations

import re

from schemas.ids import random_hex_id


def test_random_ids_are_32_hex_digits_and_do_not_repeat() -> None:
    ids = [random_hex_id() for _ in range(10_000)]
    assert all(re.fullmatch(r"[0-9a-f]{32}", value) for value in ids)
    assert len(set(ids)) == len(ids)
