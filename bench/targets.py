"""What a scenario measures against: the fake upstream itself, LLMux, or LiteLLM.

A scenario starts its fake upstreams first (one process per model, each with its own latency and
stream shape), then starts each target in turn, measures it, and stops it, so only one gateway runs
at a time and it has core ``gateway_core`` to itself. Upstreams, drivers and helper processes
(LLMux's ledger in distributed mode) share ``load_core``.
"""

from __future__ import annotations

import socket
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

from bench.procs import BenchProcess, ProcessSet
from bench.upstream import UpstreamOptions

__all__ = [
    "BenchContext",
    "DirectTarget",
    "Endpoint",
    "Target",
    "TargetUnavailable",
    "free_port",
    "start_upstreams",
]

REPO_ROOT = Path(__file__).resolve().parents[1]


class TargetUnavailable(RuntimeError):
    """A target could not be started (not installed, not finished, failed to boot)."""


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class BenchContext:
    """Run-wide settings and the process owner every scenario shares."""

    workdir: Path
    """Generated configs and process logs for this run (a temp dir)."""
    procs: ProcessSet
    gateway_core: int | None = 0
    load_core: int | None = 1
    startup_timeout_s: float = 90.0
    verbose: bool = False


@dataclass
class Endpoint:
    """A started target: where to send chat completions, with which headers."""

    name: str
    urls: dict[str, str]
    """Model → chat-completions URL (a gateway serves every model on one URL; direct does not)."""
    headers: dict[str, str] = field(default_factory=dict)
    process: BenchProcess | None = None
    """The gateway process whose memory scenario (e) samples; None for the upstream itself."""
    helpers: list[BenchProcess] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    """Caveats printed under the tables (e.g. a governance feature the target cannot do)."""

    def url(self, model: str) -> str:
        return self.urls[model]


class Target(Protocol):
    """Something that can be started against a set of upstreams and stopped again."""

    name: str
    gateway: bool
    """False for the direct-to-upstream baseline."""

    def start(self, ctx: BenchContext, upstreams: dict[str, int]) -> Endpoint: ...

    def stop(self, ctx: BenchContext, endpoint: Endpoint) -> None: ...


def start_upstreams(
    ctx: BenchContext, models: dict[str, UpstreamOptions],
) -> tuple[dict[str, int], list[BenchProcess]]:
    """One pinned fake upstream per model; returns (model → port, processes) once all answer."""
    ports: dict[str, int] = {}
    procs: list[BenchProcess] = []
    for model, opts in models.items():
        port = free_port()
        argv = [sys.executable, "-m", "bench.upstream", "--port", str(port),
                "--latency-ms", str(opts.latency_s * 1000), "--chunks", str(opts.chunks),
                "--chunk-interval-ms", str(opts.chunk_interval_s * 1000)]
        proc = ctx.procs.start(BenchProcess(f"upstream-{model}-{port}", argv, core=ctx.load_core,
                                            log_dir=ctx.workdir, cwd=REPO_ROOT))
        procs.append(proc)
        proc.wait_http(f"http://127.0.0.1:{port}/health", 15)
        ports[model] = port
    return ports, procs


class DirectTarget:
    """The fake upstream called without a gateway: the baseline every added latency subtracts."""

    name = "direct"
    gateway = False

    def start(self, ctx: BenchContext, upstreams: dict[str, int]) -> Endpoint:
        urls = {model: f"http://127.0.0.1:{port}/v1/chat/completions"
                for model, port in upstreams.items()}
        return Endpoint(self.name, urls)

    def stop(self, ctx: BenchContext, endpoint: Endpoint) -> None:
        return None
