"""``python -m bench.pipeline``: CPU per event of standalone mode's background pipeline.

Builds the standalone runtime (outbox → local SQLite bus → ledger consumer → projection runners,
all in this process, as ``llmux serve`` runs them), publishes request/usage event pairs at a fixed
rate, waits until the ledger has every event and the projections caught up, and prints the CPU
used per event: by the background threads, by the event loop thread, and (``--parts``) by each
stage, measured with ``time.thread_time`` around the stage's calls. Pinned to one core.

Example::

    python -m bench.pipeline --rate 1000 --seconds 6 --parts
"""

from __future__ import annotations

import argparse
import asyncio
import functools
import gc
import os
import tempfile
import time
import uuid
from collections.abc import Callable
from typing import Any

import uvloop
import yaml

from ingress.runtime import build_runtime
from ledger.application import LedgerApp
from ledger.bus.sqlite_log import SqliteMessageLog
from projections.runner import ProjectionRunner
from schemas.config_loader import load_config
from schemas.events import EventEnvelope, RequestCompleted, UsageRecorded

_Stages = dict[str, float]


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m bench.pipeline", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--rate", type=float, default=1000.0, help="requests/s (two events each)")
    p.add_argument("--seconds", type=float, default=6.0)
    p.add_argument("--parts", action="store_true", help="CPU per stage (wraps their methods)")
    p.add_argument("--core", type=int, default=0)
    return p


def _account(cls: type[Any], name: str, label: str, cpu: _Stages, calls: _Stages) -> None:
    method: Callable[..., Any] = getattr(cls, name)

    @functools.wraps(method)
    def timed(*args: Any, **kwargs: Any) -> Any:
        started = time.thread_time()
        try:
            return method(*args, **kwargs)
        finally:
            cpu[label] = cpu.get(label, 0.0) + time.thread_time() - started
            calls[label] = calls.get(label, 0) + 1

    setattr(cls, name, timed)


def _pair() -> tuple[EventEnvelope, EventEnvelope]:
    request_id = uuid.uuid4().hex
    usage = UsageRecorded(key_id="k1", model_requested="m", deployment="b/m", provider="b",
                          model="m", prompt_tokens=10, completion_tokens=5, cost_micros=12,
                          price_version="v1", price_known=True)
    done = RequestCompleted(key_id="k1", endpoint="chat.completions", model_requested="m",
                            is_streaming=False, latency_ms=1.0, deployment="b/m", provider="b",
                            model="m", attempts=1, fallbacks=[])
    return (EventEnvelope.wrap(usage, actor="k1", request_id=request_id),
            EventEnvelope.wrap(done, actor="k1", request_id=request_id))


async def _run(args: argparse.Namespace, cpu: _Stages, calls: _Stages) -> None:
    data_dir = tempfile.mkdtemp(prefix="llmux-pipeline-")
    path = os.path.join(data_dir, "llmux.yaml")
    with open(path, "w") as file:
        yaml.safe_dump({"deployment": {"mode": "standalone", "data_dir": data_dir},
                        "providers": [{"name": "b", "type": "mock", "models": ["m"]}],
                        "auth": {"master_key": "sk-pipeline-master-0123456789"}}, file)
    runtime = build_runtime(load_config(path, {}))
    pairs = [_pair() for _ in range(int(args.rate * args.seconds))]
    # NOTE: ``llmux serve`` freezes its startup heap (ingress.commands); the pre-built events are
    # frozen with it, or every collection would scan them (a real gateway has no such backlog).
    gc.collect()
    gc.freeze()
    await runtime.start()
    await asyncio.sleep(1.0)
    cpu.clear()
    calls.clear()
    started, loop_started, wall = time.process_time(), time.thread_time(), time.perf_counter()
    loop = asyncio.get_running_loop()
    begin, sent = loop.time(), 0
    while sent < len(pairs):
        due = min(len(pairs), int((loop.time() - begin) * args.rate))
        for usage, done in pairs[sent:due]:
            runtime.outbox.publish_nowait(usage)
            runtime.outbox.publish_nowait(done)
        sent = max(sent, due)
        await asyncio.sleep(0.002)
    events = 2 * len(pairs)
    for _ in range(600):  # bounded: at most ~30 s for the bus to take everything
        if runtime.outbox.published_total >= events:
            break
        await asyncio.sleep(0.05)
    await asyncio.sleep(1.5)  # NOTE: the ledger and projections finish their last batches
    total, on_loop = time.process_time() - started, time.thread_time() - loop_started
    print(f"{events} events at {2 * args.rate:,.0f}/s in {time.perf_counter() - wall:.1f} s: "
          f"background threads {1e6 * (total - on_loop) / events:.1f} µs/event, event loop "
          f"{1e6 * on_loop / events:.1f} µs/event")
    for label, seconds in sorted(cpu.items(), key=lambda item: -item[1]):
        print(f"  {label}: {1e6 * seconds / events:.1f} µs/event in {calls[label]:.0f} calls")
    await runtime.aclose()


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    cpu: _Stages = {}
    calls: _Stages = {}
    if args.parts:
        _account(LedgerApp, "record", "ledger record", cpu, calls)
        _account(LedgerApp, "read_envelopes", "ledger reads (projections)", cpu, calls)
        # NOTE: ``_catch_up`` is what ``run`` calls (``run_until_caught_up`` is its public face).
        _account(ProjectionRunner, "_catch_up", "projections (reads included)", cpu, calls)
        for name in ("append", "unacked", "ack", "prune", "read_after"):
            _account(SqliteMessageLog, name, f"bus {name}", cpu, calls)
    os.sched_setaffinity(0, {args.core})
    uvloop.run(_run(args, cpu, calls))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
