"""Running a fake provider: in the test's event loop, as a subprocess, or from the command line.

Every fake (Anthropic, Gemini, Azure) is an aiohttp app built by ``create_app(api_key=...)``; this
module is the one copy of how such an app is served and how a test waits for it.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import select
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path

from aiohttp import web

__all__ = ["AppFactory", "fake_main", "run_fake_subprocess", "start_fake_app"]

AppFactory = Callable[..., web.Application]
_REPO_ROOT = Path(__file__).resolve().parents[2]


async def start_fake_app(app: web.Application, *, host: str = "127.0.0.1", port: int = 0,
                         path: str = "") -> tuple[web.AppRunner, str]:
    """Serve ``app`` in the running loop; returns the runner (``await cleanup()``) and its URL
    (``http://host:port`` followed by ``path``, e.g. ``/v1beta``)."""
    runner = web.AppRunner(app, shutdown_timeout=1.0)
    await runner.setup()
    site = web.TCPSite(runner, host, port)
    await site.start()
    bound = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]  # set by start
    return runner, f"http://{host}:{bound}{path}"


@contextlib.contextmanager
def run_fake_subprocess(module: str, *, api_key: str, timeout_s: float = 30.0) -> Iterator[str]:
    """Run ``python -m module --port 0`` and yield the URL it announces; stop it on exit."""
    command = [sys.executable, "-m", module, "--port", "0", "--api-key", api_key]
    process = subprocess.Popen(command, cwd=_REPO_ROOT, stdout=subprocess.PIPE, text=True,
                               env={**os.environ, "PYTHONUNBUFFERED": "1"})
    try:
        yield _await_ready(process, module, timeout_s)
    finally:
        process.terminate()
        try:
            process.wait(timeout=5)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=5)


def _await_ready(process: subprocess.Popen[str], module: str, timeout_s: float) -> str:
    assert process.stdout is not None
    readable, _, _ = select.select([process.stdout], [], [], timeout_s)
    line = process.stdout.readline() if readable else ""
    if not line.startswith("READY "):
        raise RuntimeError(f"the fake server {module} did not start (got {line!r})")
    return line.split(" ", 1)[1].strip()


async def _serve(app: web.Application, host: str, port: int, path: str) -> None:
    runner, url = await start_fake_app(app, host=host, port=port, path=path)
    print(f"READY {url}", flush=True)
    try:
        await asyncio.Event().wait()
    finally:
        await runner.cleanup()


def fake_main(argv: list[str] | None, *, description: str, default_port: int,
              default_api_key: str, create_app: AppFactory, path: str = "") -> None:
    """The command line of a fake: ``--host``, ``--port`` (0 = free; prints ``READY <url>``),
    ``--api-key`` (the only key accepted; any if empty)."""
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=default_port)
    parser.add_argument("--api-key", default=default_api_key)
    args = parser.parse_args(argv)
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(_serve(create_app(api_key=args.api_key), args.host, args.port, path))
