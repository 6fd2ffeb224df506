"""Random ids for things that only need to be unique, not secret: request ids, reservations.

# PERF: not ``uuid.uuid4()``: it reads ``os.urandom``, which releases the GIL; in standalone mode
# the ledger and projector threads then hold it for up to the 5 ms switch interval, so one id took
# 120-520 µs of wall time (cProfile, in-process driver, docs/performance.md step 2).
# ``random.getrandbits`` is ~0.2 µs and never releases the GIL. The module-level generator is
# seeded from ``os.urandom`` and re-seeded in a forked child by CPython, so ids stay unique across
# workers. Never use these ids as secrets: they are predictable.
"""

from __future__ import annotations

import random

__all__ = ["random_hex_id"]


def random_hex_id() -> str:
    """32 random hex digits, like ``uuid4().hex``."""
    return f"{random.getrandbits(128):032x}"
