"""JSON logs, one object per line, configured once by the CLI.

Secrets never reach a log record: nothing logs request headers or bodies, and error messages are
written to be safe (see ``schemas.errors``).
"""

from __future__ import annotations

import asyncio
import logging
import sys
from datetime import UTC, datetime

import orjson

from schemas.config import LoggingConfig

__all__ = ["JsonFormatter", "ShutdownCutsAreWarnings", "configure_logging"]

# NOTE: uvicorn adds ``color_message`` (its message with terminal colour codes) to some records.
_STANDARD_ATTRIBUTES = frozenset(vars(logging.makeLogRecord({})).keys()) | {
    "message", "asctime", "color_message"}


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, object] = {
            "ts": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "msg": record.getMessage(),
        }
        for name, value in vars(record).items():
            if name not in _STANDARD_ATTRIBUTES and not name.startswith("_"):
                entry[name] = value
        if record.exc_info:
            entry["exc"] = self.formatException(record.exc_info)
        return orjson.dumps(entry, default=str).decode()


class ShutdownCutsAreWarnings(logging.Filter):
    """Report the requests cut at the end of ``server.shutdown_timeout`` as warnings, not crashes.

    uvicorn cancels the requests still running when the grace ends and logs each as "Exception in
    ASGI application" with a traceback at error level: every rolling restart with a long stream in
    flight would page someone. The cut is the configured behaviour, and the stream is settled and
    recorded (``ingress.draining``), so it gets one warning line. uvicorn cancels a request's task
    at no other time, so a ``CancelledError`` there is always such a cut.
    """

    def filter(self, record: logging.LogRecord) -> bool:
        if record.msg == "Cancel %s running task(s), timeout graceful shutdown exceeded":
            _as_warning(record, "server.shutdown_timeout is over: cutting %s request(s) in flight")
        elif (record.msg == "Exception in ASGI application\n" and record.exc_info
              and isinstance(record.exc_info[1], asyncio.CancelledError)):
            _as_warning(record, "a request still running at the end of server.shutdown_timeout "
                                "was cut")
        return True


def _as_warning(record: logging.LogRecord, msg: str) -> None:
    """Rewrite ``record`` in place: the same arguments, a new message, no traceback."""
    record.levelno, record.levelname = logging.WARNING, "WARNING"
    record.msg = msg
    record.exc_info = record.exc_text = None


def configure_logging(config: LoggingConfig) -> None:
    handler = logging.StreamHandler(sys.stderr)
    if config.json:
        handler.setFormatter(JsonFormatter())
    else:
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s %(message)s"))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(config.level.upper())
    uvicorn_errors = logging.getLogger("uvicorn.error")
    if not any(isinstance(f, ShutdownCutsAreWarnings) for f in uvicorn_errors.filters):
        uvicorn_errors.addFilter(ShutdownCutsAreWarnings())
