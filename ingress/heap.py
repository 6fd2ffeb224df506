"""Keep malloc from holding on to memory the gateway has freed.

glibc's malloc serves an allocation above its mmap threshold (128 KiB to start with) from a fresh
``mmap``, given back to the kernel when it is freed. But each time such a block is freed, glibc
raises the threshold to its size, up to 32 MiB, so the next buffers of that size come from an
arena's heap instead; and memory freed below a block still in use stays resident for good. The
gateway's large buffers are transient (a batch of events encoded for the bus or the ledger,
SQLite's reads of a batch), so with a raised threshold each arena grew to the largest burst it had
ever served. Measured at ~5,800 req/s with 64 in flight (docs/performance.md, step 28): memory in
use flat at 48.5 MB while the free memory malloc held grew from 7.3 to 11 MB, and RSS by 3.9 MiB
in 30 minutes. With the threshold fixed (which also stops its adjustment), the free memory held
stays at 2.6-4.5 MB, at the same throughput.

Smaller blocks fragment the arenas too, more slowly: RSS still rose in steps of ~0.5 MiB now and
then. ``heap_trim_job`` calls ``malloc_trim(0)`` every ``server.heap_trim_interval``: it releases
every whole free page of every arena, in 0.2-0.6 ms (measured), on a worker thread (ctypes
releases the GIL), so the event loop waits only if it allocates from an arena being trimmed.

On a C library without ``mallopt`` and ``malloc_trim`` (musl) there is nothing to do.
"""

from __future__ import annotations

import asyncio
import contextlib
import ctypes
import ctypes.util
from collections.abc import Awaitable, Callable
from typing import Any

__all__ = ["MMAP_THRESHOLD_BYTES", "fix_mmap_threshold", "heap_trim_job", "malloc_trim"]

Trim = Callable[[], object]

MMAP_THRESHOLD_BYTES = 128 * 1024
"""glibc's own starting value: blocks larger than this always come from ``mmap``."""

_M_MMAP_THRESHOLD = -3  # NOTE: from glibc's <malloc.h>


def fix_mmap_threshold(threshold_bytes: int = MMAP_THRESHOLD_BYTES) -> bool:
    """Fix malloc's mmap threshold for this process; True if the C library took it.

    Call it once, early, in a process meant to run for long: it applies to allocations made
    from then on.
    """
    mallopt = _libc_function("mallopt")
    if mallopt is None:
        return False
    mallopt.argtypes = [ctypes.c_int, ctypes.c_int]
    mallopt.restype = ctypes.c_int
    return bool(mallopt(_M_MMAP_THRESHOLD, threshold_bytes) == 1)


def malloc_trim() -> Trim | None:
    """glibc's ``malloc_trim(0)``, or None where the C library has none."""
    trim = _libc_function("malloc_trim")
    if trim is None:
        return None
    trim.argtypes = [ctypes.c_size_t]
    trim.restype = ctypes.c_int
    return lambda: trim(0)


def heap_trim_job(interval_s: float, trim: Trim | None = None,
                  ) -> Callable[[asyncio.Event], Awaitable[None]] | None:
    """A job that trims the heap every ``interval_s`` until stopped; None when it cannot, or
    should not (an interval of 0)."""
    trim = trim if trim is not None else malloc_trim()
    if trim is None or interval_s <= 0:
        return None

    async def run(stop: asyncio.Event) -> None:
        while not stop.is_set():
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), interval_s)
            if not stop.is_set():
                await asyncio.to_thread(trim)

    return run


def _libc_function(name: str) -> Any:
    library = ctypes.util.find_library("c")
    if library is None:
        return None
    try:
        function = getattr(ctypes.CDLL(library), name)
    except (OSError, AttributeError):
        return None
    return function
