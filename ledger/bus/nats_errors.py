"""The one place nats-py exceptions become ``BusUnavailable``: foreign errors stop here."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from urllib.parse import urlsplit, urlunsplit

import nats.errors

from ledger.bus.base import BusUnavailable

__all__ = ["NATS_FAILURES", "describe", "redact_url", "translated"]

NATS_FAILURES: tuple[type[BaseException], ...] = (nats.errors.Error, OSError, TimeoutError)
"""Everything nats-py raises for "the server is not there or did not answer in time"."""


def describe(exc: BaseException) -> str:
    """A short, secret-free description (nats timeouts have an empty ``str``)."""
    text = str(exc).removeprefix("nats: ")
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


def redact_url(url: str) -> str:
    """``url`` without user name, password or token, for error messages and logs."""
    parts = urlsplit(url)
    if "@" not in parts.netloc:
        return url
    return urlunsplit(parts._replace(netloc=parts.netloc.rsplit("@", 1)[1]))


@contextmanager
def translated(what: str) -> Iterator[None]:
    """Re-raise any NATS failure inside the block as ``BusUnavailable("<what>: ...")``."""
    try:
        yield
    except NATS_FAILURES as exc:
        raise BusUnavailable(f"{what}: {describe(exc)}") from exc
