"""The error a process raises when it cannot start.

Its own module because every layer that starts something raises it (the runtime, the listeners,
the ledger and projector processes) and the CLI reports it, without those layers importing each
other.
"""

from __future__ import annotations

__all__ = ["StartupError"]


class StartupError(RuntimeError):
    """A dependency is missing or unreachable at startup; the message names it."""
