"""JSON logs: one object per line, and the cuts at the end of a shutdown are warnings."""

from __future__ import annotations

import asyncio
import io
import logging
from collections.abc import Iterator

import orjson
import pytest

from ingress.logs import JsonFormatter, ShutdownCutsAreWarnings


@pytest.fixture
def uvicorn_log() -> Iterator[tuple[logging.Logger, io.StringIO]]:
    """uvicorn's error logger, writing JSON to a buffer through the gateway's filter."""
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(JsonFormatter())
    logger = logging.getLogger("uvicorn.error.test-logs")
    logger.propagate = False
    logger.addHandler(handler)
    logger.addFilter(ShutdownCutsAreWarnings())
    yield logger, stream
    logger.handlers.clear()
    logger.filters.clear()


def _lines(stream: io.StringIO) -> list[dict[str, object]]:
    return [orjson.loads(line) for line in stream.getvalue().splitlines()]


def _raised(exc: BaseException) -> BaseException:
    try:
        raise exc
    except BaseException as caught:  # NOTE: a real traceback, as uvicorn has
        return caught


def test_a_request_cut_at_shutdown_is_one_warning_without_a_traceback(
        uvicorn_log: tuple[logging.Logger, io.StringIO]) -> None:
    logger, stream = uvicorn_log
    # NOTE: the two calls uvicorn makes (server.py, protocols/http/httptools_impl.py)
    logger.error("Cancel %s running task(s), timeout graceful shutdown exceeded", 2,
                 extra={"color_message": "\x1b[1mCancel\x1b[0m"})
    cut = _raised(asyncio.CancelledError("Task cancelled, timeout graceful shutdown exceeded"))
    logger.error("Exception in ASGI application\n", exc_info=cut)
    announced, request = _lines(stream)
    assert announced["level"] == "warning"
    assert announced["msg"] == "server.shutdown_timeout is over: cutting 2 request(s) in flight"
    assert "color_message" not in announced
    assert request == {**request, "level": "warning",
                       "msg": "a request still running at the end of server.shutdown_timeout "
                              "was cut"}
    assert "exc" not in request


def test_an_application_error_keeps_its_level_and_traceback(
        uvicorn_log: tuple[logging.Logger, io.StringIO]) -> None:
    logger, stream = uvicorn_log
    logger.error("Exception in ASGI application\n", exc_info=_raised(ValueError("a real bug")))
    (line,) = _lines(stream)
    assert line["level"] == "error"
    assert "ValueError: a real bug" in str(line["exc"])
