"""Load drivers: closed loop (N in flight for T seconds), open loop (a fixed rate), SSE streams.

``run_load`` is what scenarios call. It uses ``wrk`` for closed-loop non-streaming runs when it is
installed (cheapest on the shared core), else this module's aiohttp driver, which always runs in its
own process (``python -m bench.driver``) pinned with taskset, so its GC and CPU never land on the
orchestrator or the gateway. Streaming metrics (time to first token, gaps between chunks, streams
held open) need per-chunk timestamps and so always use the aiohttp driver.

Open-loop latency is measured from the *intended* send time, so a stalled gateway is charged for
the queue it builds (no coordinated omission).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import subprocess
import sys
import time
from array import array
from dataclasses import dataclass, field
from pathlib import Path

import aiohttp

from bench.stats import LoadResult, summarize_ms
from bench.wrk import run_wrk, wrk_available

__all__ = ["LoadSpec", "main", "run_load"]

REPO_ROOT = Path(__file__).resolve().parents[1]


@dataclass(frozen=True)
class LoadSpec:
    """One measurement: what to send, how, for how long. ``warmup_s`` runs the same load first."""

    url: str
    body: bytes
    headers: dict[str, str] = field(default_factory=dict)
    mode: str = "closed"
    """``closed``, ``open`` or ``stream``."""
    concurrency: int = 1
    duration_s: float = 10.0
    warmup_s: float = 2.0
    rate: float = 0.0
    """Open loop: requests per second."""
    max_inflight: int = 2000
    """Open loop: sends beyond this many in flight are dropped and counted."""
    timeout_s: float = 30.0


def run_load(spec: LoadSpec, *, core: int | None, prefer_wrk: bool = True) -> LoadResult:
    """Warm up, then measure, with wrk or the pinned aiohttp driver process."""
    if spec.mode == "closed" and prefer_wrk and wrk_available():
        if spec.warmup_s > 0:
            run_wrk(spec.url, spec.body, spec.headers, concurrency=spec.concurrency,
                    duration_s=spec.warmup_s, core=core, timeout_s=spec.timeout_s)
        return run_wrk(spec.url, spec.body, spec.headers, concurrency=spec.concurrency,
                       duration_s=spec.duration_s, core=core, timeout_s=spec.timeout_s)
    cmd = [sys.executable, "-m", "bench.driver", "--url", spec.url, "--mode", spec.mode,
           "--concurrency", str(spec.concurrency), "--duration", str(spec.duration_s),
           "--warmup", str(spec.warmup_s), "--rate", str(spec.rate),
           "--max-inflight", str(spec.max_inflight), "--timeout", str(spec.timeout_s),
           "--body", spec.body.decode()]
    for name, value in spec.headers.items():
        cmd += ["--header", f"{name}: {value}"]
    if core is not None:
        cmd = ["taskset", "-c", str(core), *cmd]
    budget = spec.warmup_s + spec.duration_s + spec.timeout_s + 60
    proc = subprocess.run(cmd, capture_output=True, text=True, cwd=REPO_ROOT, timeout=budget,
                          check=False)
    if proc.returncode != 0:
        raise RuntimeError(f"driver failed ({proc.returncode}): {proc.stderr.strip()[-800:]}")
    return LoadResult.from_json(json.loads(proc.stdout.strip().splitlines()[-1]))


class _Tally:
    """Everything one measuring phase records; latencies kept compactly as doubles."""

    __slots__ = ("chunks", "errors", "gaps", "latencies", "open_now", "peak_open", "samples",
                 "ttfts")

    def __init__(self) -> None:
        self.latencies = array("d")
        self.ttfts = array("d")
        self.gaps = array("d")
        self.chunks = 0
        self.errors = 0
        self.samples: list[str] = []
        self.open_now = 0
        self.peak_open = 0

    def error(self, text: str) -> None:
        self.errors += 1
        if len(self.samples) < 5:
            self.samples.append(text[:200])


async def _one(session: aiohttp.ClientSession, spec: LoadSpec, tally: _Tally,
               start: float) -> None:
    """One request; ``start`` is when it was (meant to be) sent."""
    try:
        async with session.post(spec.url, data=spec.body, headers=spec.headers) as resp:
            if resp.status != 200:
                payload = await resp.read()
                tally.error(f"HTTP {resp.status}: {payload[:150]!r}")
                return
            if spec.mode == "stream":
                await _read_stream(resp, tally, start)
            else:
                await resp.read()
    except (TimeoutError, aiohttp.ClientError, ValueError) as exc:
        tally.error(f"{type(exc).__name__}: {exc}")
        return
    tally.latencies.append(time.perf_counter() - start)


async def _read_stream(resp: aiohttp.ClientResponse, tally: _Tally, start: float) -> None:
    """Timestamp every SSE data event on arrival; events read together share a timestamp."""
    tally.open_now += 1
    tally.peak_open = max(tally.peak_open, tally.open_now)
    try:
        buffer = b""
        last: float | None = None
        chunks = 0
        done = False
        async for data in resp.content.iter_any():
            now = time.perf_counter()
            buffer += data
            *events, buffer = buffer.split(b"\n\n")
            fresh = 0
            for event in events:
                if event.strip() == b"data: [DONE]":
                    done = True
                elif event.startswith(b"data:"):
                    fresh += 1
            if not fresh:
                continue
            # NOTE: one gap per read that brought events: events coalesced into one read reached
            # the client together, and counting them as 0 ms gaps would flatter the mean.
            if last is None:
                tally.ttfts.append(now - start)
            else:
                tally.gaps.append(now - last)
            last = now
            chunks += fresh
        if not done:
            raise ValueError("stream ended without data: [DONE]")
        tally.chunks += chunks
    finally:
        tally.open_now -= 1


async def _closed(session: aiohttp.ClientSession, spec: LoadSpec, duration: float,
                  tally: _Tally) -> int:
    """Keep ``spec.concurrency`` requests in flight for ``duration``; never drops (returns 0)."""
    deadline = time.perf_counter() + duration

    async def worker() -> None:
        while time.perf_counter() < deadline:
            await _one(session, spec, tally, time.perf_counter())

    await asyncio.gather(*(worker() for _ in range(spec.concurrency)))
    return 0


async def _open(session: aiohttp.ClientSession, spec: LoadSpec, duration: float,
                tally: _Tally) -> int:
    """Send at ``spec.rate`` for ``duration``; returns how many sends were dropped."""
    t0 = time.perf_counter()
    total = int(spec.rate * duration)
    tasks: set[asyncio.Task[None]] = set()
    dropped = 0
    for i in range(total):
        due = t0 + i / spec.rate
        delay = due - time.perf_counter()
        if delay > 0.001:
            await asyncio.sleep(delay)
        if len(tasks) >= spec.max_inflight:
            dropped += 1
            continue
        task = asyncio.create_task(_one(session, spec, tally, due))
        tasks.add(task)
        task.add_done_callback(tasks.discard)
    if tasks:
        await asyncio.wait(tasks, timeout=spec.timeout_s)
    return dropped


async def drive(spec: LoadSpec) -> LoadResult:
    """Warm up, then measure one phase, in this process."""
    limit = spec.max_inflight if spec.mode == "open" else spec.concurrency
    timeout = aiohttp.ClientTimeout(total=spec.timeout_s)
    connector = aiohttp.TCPConnector(limit=limit, ttl_dns_cache=None)
    async with aiohttp.ClientSession(connector=connector, timeout=timeout) as session:
        run = _open if spec.mode == "open" else _closed
        if spec.warmup_s > 0:
            await run(session, spec, spec.warmup_s, _Tally())
        tally = _Tally()
        t0 = time.perf_counter()
        dropped = await run(session, spec, spec.duration_s, tally)
        elapsed = time.perf_counter() - t0
    return _result(spec, tally, elapsed, dropped)


def _result(spec: LoadSpec, tally: _Tally, elapsed: float, dropped: int) -> LoadResult:
    lat = summarize_ms(tally.latencies)
    stream = None
    if spec.mode == "stream":
        done = len(tally.latencies)
        stream = {"ttft_ms": summarize_ms(tally.ttfts), "gap_ms": summarize_ms(tally.gaps),
                  "peak_open": tally.peak_open, "chunks_mean": tally.chunks / done if done else 0}
    return LoadResult(
        tool="python", mode=spec.mode, concurrency=spec.concurrency, duration_s=elapsed,
        requests=len(tally.latencies) + tally.errors, errors=tally.errors,
        rps=len(tally.latencies) / elapsed if elapsed else 0.0, mean_ms=lat["mean"],
        p50_ms=lat["p50"], p99_ms=lat["p99"], rate=spec.rate or None, dropped=dropped,
        error_samples=tally.samples, stream=stream,
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.driver", description=__doc__)
    parser.add_argument("--url", required=True)
    parser.add_argument("--body", required=True, help="the JSON request body")
    parser.add_argument("--header", action="append", default=[], help="'Name: value'")
    parser.add_argument("--mode", choices=["closed", "open", "stream"], default="closed")
    parser.add_argument("--concurrency", type=int, default=1)
    parser.add_argument("--duration", type=float, default=10.0)
    parser.add_argument("--warmup", type=float, default=2.0)
    parser.add_argument("--rate", type=float, default=0.0)
    parser.add_argument("--max-inflight", type=int, default=2000)
    parser.add_argument("--timeout", type=float, default=30.0)
    args = parser.parse_args(argv)
    if args.mode == "open" and args.rate <= 0:
        parser.error("--mode open needs --rate > 0")
    headers = dict(h.split(":", 1) for h in args.header)
    spec = LoadSpec(url=args.url, body=args.body.encode(),
                    headers={k.strip(): v.strip() for k, v in headers.items()}, mode=args.mode,
                    concurrency=args.concurrency, duration_s=args.duration, warmup_s=args.warmup,
                    rate=args.rate, max_inflight=args.max_inflight, timeout_s=args.timeout)
    try:
        import uvloop
        asyncio.set_event_loop_policy(uvloop.EventLoopPolicy())
    except ImportError:
        pass
    result = asyncio.run(drive(spec))
    print(json.dumps(result.to_json()))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
