"""The shared mechanics of every scenario: options, choosing targets, one measured load run.

``run_targets`` starts the scenario's fake upstreams, then each target in turn (one gateway alive at
a time), calls the scenario's measurement with the started endpoint, and always stops what it
started. A target that cannot start is recorded as ``{"unavailable": reason}`` and skipped, so the
harness works before the gateway does.
"""

from __future__ import annotations

import json
import subprocess
import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from bench.driver import LoadSpec, run_load
from bench.litellm_env import LiteLLMTarget
from bench.llmux_env import LLMuxTarget
from bench.procs import core_busy_seconds
from bench.report import RESULTS_DIR
from bench.targets import (
    BenchContext,
    DirectTarget,
    Endpoint,
    Target,
    TargetUnavailable,
    start_upstreams,
)
from bench.upstream import UpstreamOptions

__all__ = ["BenchOptions", "Measure", "body", "build_targets", "load", "run_targets"]

Measure = Callable[[Endpoint], dict[str, Any]]


@dataclass
class BenchOptions:
    """Everything the command line can change (defaults = the issue's scenarios)."""

    targets: list[str] = field(default_factory=lambda: ["direct", "llmux", "litellm"])
    duration_s: float = 10.0
    warmup_s: float = 3.0
    concurrency_a: int = 100
    latency_a_ms: float = 50.0
    latency_b_ms: float = 0.0
    saturation_levels: list[int] = field(default_factory=lambda: [16, 64, 256])
    stream_chunks: int = 64
    chunk_interval_ms: float = 5.0
    stream_concurrency: int = 10
    hold_streams: int = 1000
    hold_interval_ms: float = 100.0
    memory_duration_s: float = 600.0
    memory_warmup_s: float = 60.0
    memory_concurrency: int = 64
    open_rate: float = 500.0
    repeat: int = 1
    """Measured runs per figure (the median by req/s is kept)."""
    install_litellm: bool = False
    prefer_wrk: bool = True
    results_dir: Path = RESULTS_DIR


def _selected(name: str, wanted: list[str]) -> bool:
    return name in wanted or name.split("-")[0] in wanted


def build_targets(opts: BenchOptions, *, governed: bool = False,
                  include_direct: bool = False) -> list[Target]:
    """The selected targets; ``governed`` swaps in the governance/distributed variants."""
    candidates: list[Target] = [DirectTarget()]
    if governed:
        candidates += [LLMuxTarget(governed=True), LLMuxTarget(distributed=True),
                       LiteLLMTarget(governed=True, install=opts.install_litellm)]
    else:
        candidates += [LLMuxTarget(), LiteLLMTarget(install=opts.install_litellm)]
    return [t for t in candidates
            if _selected(t.name, opts.targets) or (include_direct and not t.gateway)]


def body(model: str, stream: bool = False) -> bytes:
    request: dict[str, Any] = {"model": model, "max_tokens": 64,
                               "messages": [{"role": "user", "content": "Say hello."}]}
    if stream:
        request.update(stream=True, stream_options={"include_usage": True})
    return json.dumps(request, separators=(",", ":")).encode()


def load(ctx: BenchContext, opts: BenchOptions, endpoint: Endpoint, model: str, *,
         mode: str = "closed", concurrency: int = 1, duration_s: float | None = None,
         warmup_s: float | None = None, rate: float = 0.0, timeout_s: float = 30.0,
         ) -> dict[str, Any]:
    """Warm up, then ``opts.repeat`` measured runs; keeps the run with the median req/s.

    Adds the gateway's CPU use and RSS during that run, and every run's req/s under ``repeats``
    and p99 under ``repeat_p99_ms`` (this VM's runs differ by up to ±30 %, so a median of several
    is steadier than one, and the spread shows how far to trust it).
    """
    spec = LoadSpec(url=endpoint.url(model), body=body(model, mode == "stream"),
                    headers={**endpoint.headers, "Content-Type": "application/json"},
                    mode=mode, concurrency=concurrency,
                    duration_s=opts.duration_s if duration_s is None else duration_s,
                    warmup_s=0.0, rate=rate, max_inflight=max(2000, concurrency),
                    timeout_s=timeout_s)
    warm = opts.warmup_s if warmup_s is None else warmup_s
    if warm > 0:
        run_load(replace(spec, duration_s=warm), core=ctx.load_core, prefer_wrk=opts.prefer_wrk)
    runs = [_measured(ctx, opts, endpoint, spec) for _ in range(max(1, opts.repeat))]
    runs.sort(key=lambda r: float(r["rps"]))
    data = runs[len(runs) // 2]
    if len(runs) > 1:
        data["repeats"] = [r["rps"] for r in runs]
        data["repeat_p99_ms"] = [r["p99_ms"] for r in runs]
    return data


def _measured(ctx: BenchContext, opts: BenchOptions, endpoint: Endpoint,
              spec: LoadSpec) -> dict[str, Any]:
    proc = endpoint.process
    core = ctx.gateway_core
    cpu_before = proc.cpu_seconds() if proc else 0.0
    core_before = core_busy_seconds(core) if core is not None else 0.0
    started = time.monotonic()
    result = run_load(spec, core=ctx.load_core, prefer_wrk=opts.prefer_wrk)
    wall = time.monotonic() - started
    data = result.to_json()
    if proc is not None:
        used = proc.cpu_seconds() - cpu_before
        data["gateway_cpu_pct"] = 100 * used / result.duration_s if result.duration_s else None
        data["gateway_rss_mib"] = proc.rss_kib() / 1024
        data["gateway_alive"] = proc.alive()
        if core is not None and wall > 0:
            # NOTE: busy time on the gateway's core that the gateway did not use = other work
            # (another process, or the hypervisor's steal). Above a few % the run is disturbed.
            foreign = core_busy_seconds(core) - core_before - used
            data["foreign_cpu_on_gateway_core_pct"] = max(0.0, 100 * foreign / wall)
    return data


def run_targets(ctx: BenchContext, targets: list[Target], models: dict[str, UpstreamOptions],
                measure: Measure) -> dict[str, dict[str, Any]]:
    """Start the upstreams, then measure each target in turn; never leaves anything running."""
    ports, upstreams = start_upstreams(ctx, models)
    results: dict[str, dict[str, Any]] = {}
    try:
        for target in targets:
            print(f"  - {target.name} ...", flush=True)
            try:
                endpoint = target.start(ctx, ports)
            except TargetUnavailable as exc:
                print(f"    {target.name} unavailable: {str(exc)[-1200:]}", flush=True)
                results[target.name] = {"unavailable": str(exc)[-4000:]}
                continue
            try:
                results[target.name] = {"notes": endpoint.notes, **measure(endpoint)}
            except (RuntimeError, OSError, subprocess.TimeoutExpired, ValueError) as exc:
                tail = endpoint.process.log_tail(1500) if endpoint.process else ""
                print(f"    {target.name} failed: {exc}\n{tail}", flush=True)
                results[target.name] = {"failed": f"{exc}", "log_tail": tail}
            finally:
                target.stop(ctx, endpoint)
    finally:
        for proc in upstreams:
            ctx.procs.stop(proc)
    return results
