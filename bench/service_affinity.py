"""Keep the machine's shared services (Postgres, Redis, NATS) off the gateway's core for a run.

The gateway under test must have a core of its own (the issue's method). The services that
distributed mode talks to are machine daemons, started before the benchmark and shared with
everyone, so they float over every core and land on the gateway's from time to time: 5-20 % of
its core in earlier runs ("other CPU % on its core"). For the run they are moved, every thread of
them, to the load core; their previous affinity is restored afterwards. A process we may not
move (another user's, or gone meanwhile) is skipped: the tables still report the disturbance.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator
from pathlib import Path

__all__ = ["SERVICE_NAMES", "services_on_core"]

SERVICE_NAMES = ("postgres", "redis-server", "nats-server")
"""``comm`` names of the shared services' processes."""


def _service_threads(names: tuple[str, ...]) -> list[int]:
    threads: list[int] = []
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit():
            continue
        try:
            if (proc / "comm").read_text().strip() not in names:
                continue
            threads += [int(task.name) for task in (proc / "task").iterdir()]
        except OSError:
            continue  # NOTE: the process ended meanwhile
    return threads


@contextlib.contextmanager
def services_on_core(core: int | None, names: tuple[str, ...] = SERVICE_NAMES) -> Iterator[int]:
    """Within the block, the services' threads run only on ``core``; yields how many moved."""
    if core is None:
        yield 0
        return
    previous: dict[int, set[int]] = {}
    for tid in _service_threads(names):
        try:
            previous[tid] = os.sched_getaffinity(tid)
            os.sched_setaffinity(tid, {core})
        except OSError:
            previous.pop(tid, None)
    try:
        yield len(previous)
    finally:
        for tid, cores in previous.items():
            with contextlib.suppress(OSError):
                os.sched_setaffinity(tid, cores)
