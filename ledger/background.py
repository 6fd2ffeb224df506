"""Catch-up work that yields the core to requests while it keeps up, and competes when behind.

In standalone mode the ledger's writer runs as a thread of the gateway process, on the core of
the event loop that serves requests. A thread woken to record a batch has slept for
~50 ms, so the kernel lets it run its whole batch (2-2.7 ms: SQLite's commit, the WAL write and
``fdatasync``) before the loop's thread gets the core back: at concurrency 1 those waits were
most of the requests above p99 (``perf sched``: 58 of 91 waits over 1 ms in 3 s).

A ``CatchUpWorker`` has two threads and runs one task at a time. Work that keeps up goes to the
*polite* thread, which runs under ``SCHED_IDLE``: the kernel gives it the core only when the
request path has nothing to do, and preempts it the moment a request arrives. Work that has
fallen behind (the caller says so: its last batch was full) goes to the *ordinary* thread, which
competes for the core as an equal, so a saturated gateway still records everything it serves and
the backlog stays bounded by about one batch. Two threads are needed because an unprivileged
thread may lower its own priority but never raise it again.

The projections do not use it, though they are catch-up work too: a polite reader of the ledger,
preempted in the middle of a read at saturation, holds its snapshot for as long as the core stays
busy, and SQLite cannot restart the ledger's WAL behind it (measured: a 282 MB WAL and +5.5 MB RSS
in 110 s at 64 in flight, against 6 MB and flat with only the writer polite).

The threads take turns, never overlap: a caller awaits each task before the next, as the ledger
consumer does, so a connection used on one thread is never used on both at once.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import TypeVar, TypeVarTuple

__all__ = ["CatchUpWorker"]

_T = TypeVar("_T")
_Ts = TypeVarTuple("_Ts")

def _run_only_on_an_idle_core() -> None:
    """Move the calling thread to ``SCHED_IDLE`` (a ``ThreadPoolExecutor`` initializer).

    Where the policy cannot be changed (not Linux, or not permitted) it does nothing: the work is
    the same, only scheduled less politely.
    """
    with contextlib.suppress(OSError, AttributeError):
        os.sched_setscheduler(0, os.SCHED_IDLE, os.sched_param(0))


class CatchUpWorker:
    """Runs blocking catch-up work off the event loop, politely unless it has fallen behind.

    Args:
        name: the threads' name prefix (``<name>`` and ``<name>-polite``), as seen by py-spy.
        polite: whether work that keeps up yields the core to the event loop. ``False`` (a
            process of its own, like ``llmux ledger``) runs everything on the ordinary thread.
    """

    def __init__(self, name: str, *, polite: bool) -> None:
        self._ordinary = ThreadPoolExecutor(max_workers=1, thread_name_prefix=name)
        self._polite = (
            ThreadPoolExecutor(max_workers=1, thread_name_prefix=f"{name}-polite",
                               initializer=_run_only_on_an_idle_core)
            if polite else None
        )

    async def run(self, fn: Callable[[*_Ts], _T], *args: *_Ts, behind: bool = False) -> _T:
        """``fn(*args)`` on the polite thread, or on the ordinary one when ``behind``.

        ``behind`` is the caller's judgement that work is waiting beyond this task (its last
        batch came back full): then the task competes with requests for the core.
        """
        executor = self._ordinary if behind or self._polite is None else self._polite
        return await asyncio.get_running_loop().run_in_executor(executor, fn, *args)

    def shutdown(self) -> None:
        """Wait for the task in progress, then stop both threads (blocking)."""
        self._ordinary.shutdown()
        if self._polite is not None:
            self._polite.shutdown()
