"""Ids for things that only need to be unique, not secret: request ids, reservations, events.

# PERF: not ``uuid.uuid4()``: it reads ``os.urandom``, which releases the GIL; in standalone mode
# the ledger and projector threads then hold it for up to the 5 ms switch interval, so one id took
# 120-520 µs of wall time (cProfile, in-process driver, docs/performance.md step 2).
# ``random.getrandbits`` is ~0.2 µs and never releases the GIL. The module-level generator is
# seeded from ``os.urandom`` and re-seeded in a forked child by CPython, so ids stay unique across
# workers. Never use these ids as secrets: they are predictable.
"""

from __future__ import annotations

import random
import time
import uuid

__all__ = ["random_hex_id", "time_ordered_uuid"]

_RAND_A_BITS = 12
_RAND_B_BITS = 62
_VERSION_7 = 0x7 << 76
_VARIANT_RFC = 0b10 << 62


def random_hex_id() -> str:
    """32 random hex digits, like ``uuid4().hex``."""
    return f"{random.getrandbits(128):032x}"


def time_ordered_uuid() -> uuid.UUID:
    """A version 7 UUID (RFC 9562): 48 bits of Unix milliseconds, then 74 random bits.

    Ids that grow with time keep a B-tree index that is keyed by them appending at its right
    edge, instead of inserting into a random leaf each time.

    # PERF: event ids are the primary key of the ledger and the message id of the local bus. As
    # random UUIDs, each event dirtied its own index page, so every ~0.6 KB event cost a 4 KB page
    # write in the WAL and again at checkpoint: 23 KB written per request at concurrency 1 (12 KB
    # with these ids), the kernel's writeback running on the gateway's core (docs/performance.md,
    # step 24).
    """
    rand = random.getrandbits(_RAND_A_BITS + _RAND_B_BITS)
    return uuid.UUID(int=(time.time_ns() // 1_000_000) << 80 | _VERSION_7
                     | (rand >> _RAND_B_BITS) << 64 | _VARIANT_RFC
                     | rand & ((1 << _RAND_B_BITS) - 1))
