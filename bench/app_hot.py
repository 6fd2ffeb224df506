"""``python -m bench.app_hot``: CPU per request of the gateway's own code, in process, no sockets.

Builds the real app (``create_app``) on a standalone config with the in-process ``mock`` provider,
runs its ASGI lifespan, creates a governed virtual key (rpm, tpm and a budget, as scenario (f)),
then drives ``POST /v1/chat/completions`` straight through the ASGI interface, ``--concurrency``
at a time, and prints the event-loop thread's CPU time per request (``time.thread_time``: the
standalone ledger and projector threads are not counted). Without uvicorn, sockets and a real
upstream this measures only our code and Falcon's, and repeats within a few percent on a shared
machine, so a change on the request path can be judged by it before the HTTP benchmark.

Example::

    python -m bench.app_hot --requests 20000 --concurrency 16
"""

from __future__ import annotations

import argparse
import asyncio
import tempfile
import time
from pathlib import Path
from typing import Any

import msgspec
import orjson
import uvloop

from bench.llmux_env import KEY_LIMITS
from ingress.app import create_app
from schemas.config import LLMuxConfig

MASTER = "sk-bench-app-hot-master"
MODEL = "mock-gpt"
Message = dict[str, Any]


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m bench.app_hot", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--requests", type=int, default=20_000)
    p.add_argument("--warmup", type=int, default=3_000)
    p.add_argument("--concurrency", type=int, default=16)
    p.add_argument("--master-key", action="store_true", help="call with the master key (no limits)")
    return p


def _config(data_dir: Path) -> LLMuxConfig:
    return msgspec.convert({
        "deployment": {"mode": "standalone", "data_dir": str(data_dir)},
        "auth": {"master_key": MASTER},
        "logging": {"level": "warning"},
        "providers": [{"name": "mock", "type": "mock", "models": [MODEL]}],
    }, LLMuxConfig)


class _Client:
    """Just enough of an ASGI server: one HTTP request per call, the response collected."""

    def __init__(self, app: Any) -> None:
        self._app = app

    async def request(self, method: str, path: str, key: str, body: bytes) -> tuple[int, bytes]:
        scope = {
            "type": "http", "asgi": {"version": "3.0", "spec_version": "2.3"},
            "http_version": "1.1", "method": method, "scheme": "http", "path": path,
            "raw_path": path.encode(), "query_string": b"", "root_path": "",
            "headers": [(b"host", b"127.0.0.1"), (b"authorization", f"Bearer {key}".encode()),
                        (b"content-type", b"application/json"),
                        (b"content-length", str(len(body)).encode())],
            "client": ("127.0.0.1", 50000), "server": ("127.0.0.1", 8080),
        }
        sent: list[Message] = []
        delivered = False

        async def receive() -> Message:
            nonlocal delivered
            if not delivered:
                delivered = True
                return {"type": "http.request", "body": body, "more_body": False}
            await asyncio.Event().wait()  # NOTE: a disconnect never comes
            return {}

        async def send(message: Message) -> None:
            sent.append(message)

        await self._app(scope, receive, send)
        status = next(m["status"] for m in sent if m["type"] == "http.response.start")
        body_parts = [m.get("body", b"") for m in sent if m["type"] == "http.response.body"]
        return status, b"".join(body_parts)


async def _lifespan(app: Any) -> tuple[asyncio.Queue[Message], asyncio.Task[None]]:
    inbox: asyncio.Queue[Message] = asyncio.Queue()
    outbox: asyncio.Queue[Message] = asyncio.Queue()
    task = asyncio.ensure_future(app({"type": "lifespan", "asgi": {"version": "3.0"}},
                                     inbox.get, outbox.put))
    await inbox.put({"type": "lifespan.startup"})
    started = await outbox.get()
    if started["type"] != "lifespan.startup.complete":
        raise RuntimeError(f"startup failed: {started}")
    return inbox, task


async def _drive(client: _Client, key: str, count: int, concurrency: int) -> None:
    body = orjson.dumps({"model": MODEL, "messages": [{"role": "user", "content": "hi"}],
                         "max_tokens": 64})
    left = count

    async def worker() -> None:
        nonlocal left
        while left > 0:
            left -= 1
            status, reply = await client.request("POST", "/v1/chat/completions", key, body)
            if status != 200:
                raise RuntimeError(f"chat answered {status}: {reply[:300]!r}")

    await asyncio.gather(*(worker() for _ in range(concurrency)))


async def _main(args: argparse.Namespace) -> None:
    with tempfile.TemporaryDirectory(prefix="llmux-app-hot-") as tmp:
        app = create_app(_config(Path(tmp) / "data"))
        inbox, lifespan = await _lifespan(app)
        client = _Client(app)
        key = MASTER
        if not args.master_key:
            status, created = await client.request(
                "POST", "/key/generate", MASTER,
                orjson.dumps({"models": [MODEL], "key_alias": "bench", **KEY_LIMITS}))
            if status != 200:
                raise RuntimeError(f"/key/generate answered {status}: {created[:300]!r}")
            key = orjson.loads(created)["key"]
        await _drive(client, key, args.warmup, args.concurrency)
        cpu0 = time.thread_time()
        wall0 = time.perf_counter()
        await _drive(client, key, args.requests, args.concurrency)
        cpu = time.thread_time() - cpu0
        wall = time.perf_counter() - wall0
        await inbox.put({"type": "lifespan.shutdown"})
        await lifespan
    kind = "master key" if args.master_key else "governed key"
    print(f"{args.requests} requests ({kind}, {args.concurrency} at a time): "
          f"{1e6 * cpu / args.requests:.1f} µs CPU/request on the loop thread "
          f"({args.requests / wall:,.0f} req/s wall)")


def main(argv: list[str] | None = None) -> int:
    uvloop.run(_main(_parser().parse_args(argv)))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
