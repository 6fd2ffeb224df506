"""Pytest fixtures that run the fake providers as real HTTP servers in subprocesses.

Use them from a conftest: ``pytest_plugins = ["tests.fakes.fixtures"]`` (root conftest only) or
``from tests.fakes.fixtures import fake_openai, fake_openai_server  # noqa: F401``.
``fake_openai_server`` starts one server per session; ``fake_openai`` hands it to a test with its
request log cleared.
"""

from __future__ import annotations

import asyncio
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import orjson
import pytest

__all__ = ["FakeServer", "fake_openai", "fake_openai_server", "free_port", "start_fake_server"]

_REPO_ROOT = Path(__file__).resolve().parents[2]
_START_TIMEOUT_S = 15.0


def free_port() -> int:
    """A TCP port nothing listens on right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class FakeServer:
    """A fake provider running in a subprocess."""

    def __init__(self, process: subprocess.Popen[bytes], port: int) -> None:
        self.process = process
        self.port = port
        self.root = f"http://127.0.0.1:{port}"
        self.base_url = f"{self.root}/v1"
        """What a provider config's ``base_url`` should be."""

    def _call(self, method: str) -> Any:
        request = urllib.request.Request(f"{self.root}/_requests", method=method)
        with urllib.request.urlopen(request, timeout=5) as resp:
            return orjson.loads(resp.read())

    def requests(self) -> list[dict[str, Any]]:
        """Everything received (and stream outcomes such as ``{"event": "client_gone"}``)."""
        return list(self._call("GET"))

    def clear(self) -> None:
        self._call("DELETE")

    def events(self, tag: str) -> list[str]:
        """Stream outcomes recorded for requests sent with ``x-fake-tag: tag``."""
        return [r["event"] for r in self.requests() if "event" in r and r.get("tag") == tag]

    async def wait_for_event(self, tag: str, timeout_s: float = 5.0) -> list[str]:
        """The outcomes for ``tag`` once there is one (or after ``timeout_s``)."""
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            events = await asyncio.to_thread(self.events, tag)
            if events:
                return events
            await asyncio.sleep(0.05)
        return []

    def stop(self) -> None:
        self.process.terminate()
        try:
            self.process.wait(timeout=5)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait(timeout=5)


def start_fake_server(module: str = "tests.fakes.openai_server") -> FakeServer:
    """Start ``python -m module --port N`` on a free port and wait until it answers."""
    port = free_port()
    process = subprocess.Popen(
        [sys.executable, "-m", module, "--port", str(port)], cwd=_REPO_ROOT,
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )
    server = FakeServer(process, port)
    deadline = time.monotonic() + _START_TIMEOUT_S
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"fake server {module} exited with {process.returncode}")
        try:
            server.requests()
            return server
        except (urllib.error.URLError, ConnectionError):
            time.sleep(0.05)
    server.stop()
    raise RuntimeError(f"fake server {module} did not answer within {_START_TIMEOUT_S} s")


@pytest.fixture(scope="session")
def fake_openai_server() -> Iterator[FakeServer]:
    server = start_fake_server()
    yield server
    server.stop()


@pytest.fixture
def fake_openai(fake_openai_server: FakeServer) -> FakeServer:
    """The session's fake OpenAI server, its request log cleared for this test."""
    fake_openai_server.clear()
    return fake_openai_server
