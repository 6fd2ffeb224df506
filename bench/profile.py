"""``python -m bench.profile``: one pinned LLMux gateway under wrk load, sampled by py-spy.

Starts a fake upstream (load core), the gateway (gateway core; standalone, or distributed with a
``llmux ledger`` process on the load core), warms it up, then runs ``wrk`` for ``--duration``
seconds while ``py-spy record`` samples the gateway (``--no-profile``: measure only). Prints req/s
and the gateway's CPU microseconds per request, and writes the profile (speedscope JSON, or
collapsed stacks with ``--format raw``) next to ``--out``. py-spy is not a project dependency:
``.venv/bin/pip install 'py-spy>=0.4,<0.5'``.

Examples::

    python -m bench.profile --concurrency 64 --duration 10 --out /tmp/llmux.txt --format raw
    python -m bench.profile --distributed --no-profile --duration 10
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import replace
from pathlib import Path

import yaml

from bench.driver import LoadSpec, run_load
from bench.llmux_env import KEY_LIMITS, MASTER_KEY, generate_key, llmux_config, with_overrides
from bench.procs import BenchProcess, ProcessSet, core_busy_seconds
from bench.runner import body
from bench.service_affinity import services_on_core
from bench.services import DistributedNamespace
from bench.targets import REPO_ROOT, BenchContext, free_port, start_upstreams
from bench.upstream import UpstreamOptions

MODEL = "bench-model"


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m bench.profile", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--concurrency", type=int, default=64)
    p.add_argument("--latency-ms", type=float, default=0.0)
    p.add_argument("--duration", type=float, default=10.0)
    p.add_argument("--warmup", type=float, default=3.0)
    p.add_argument("--stream", action="store_true", help="SSE requests (Python driver)")
    p.add_argument("--chunks", type=int, default=64, help="content chunks per stream")
    p.add_argument("--chunk-interval-ms", type=float, default=5.0)
    p.add_argument("--distributed", action="store_true")
    p.add_argument("--governed", action="store_true",
                   help="call with a virtual key that has rpm/tpm limits and a budget")
    p.add_argument("--no-profile", action="store_true")
    p.add_argument("--all-threads", action="store_true",
                   help="sample threads waiting for the GIL too (default: only its holder)")
    p.add_argument("--rate", type=int, default=250, help="py-spy samples per second")
    p.add_argument("--format", default="raw", choices=["raw", "speedscope", "flamegraph"])
    p.add_argument("--perf", action="store_true",
                   help="sample with Linux perf (C level: kernel, interpreter, libraries) instead")
    p.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                   help="a gateway setting, e.g. --set ledger.batch_wait=10ms (repeatable)")
    p.add_argument("--out", type=Path, default=Path("/tmp/llmux-profile.txt"))
    p.add_argument("--keep-logs", action="store_true", help="keep the configs and process logs")
    p.add_argument("--gateway-core", type=int, default=0)
    p.add_argument("--load-core", type=int, default=1)
    return p


def _spawn(ctx: BenchContext, command: str, config: Path, core: int) -> BenchProcess:
    argv = [sys.executable, "-m", "ingress.cli", command, "--config", str(config)]
    return ctx.procs.start(BenchProcess(f"llmux-{command}", argv, core=core, log_dir=ctx.workdir,
                                        env={"PYTHONPATH": str(REPO_ROOT)}, cwd=REPO_ROOT))


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    workdir = Path(tempfile.mkdtemp(prefix="llmux-profile-"))
    namespace = DistributedNamespace.create() if args.distributed else None
    try:
        with ProcessSet() as procs, services_on_core(args.load_core):
            ctx = BenchContext(workdir, procs, args.gateway_core, args.load_core)
            return _run(args, ctx, namespace)
    finally:
        if namespace is not None:
            namespace.drop()
        if args.keep_logs:
            print(f"logs: {workdir}")
        else:
            shutil.rmtree(workdir, ignore_errors=True)


def _run(args: argparse.Namespace, ctx: BenchContext,
         namespace: DistributedNamespace | None) -> int:
    upstream = UpstreamOptions(args.latency_ms / 1000, args.chunks, args.chunk_interval_ms / 1000)
    ports, _ = start_upstreams(ctx, {MODEL: upstream})
    port = free_port()
    config = ctx.workdir / "llmux.yaml"
    tree = with_overrides(llmux_config(port, ports, ctx.workdir / "data", namespace), args.set)
    config.write_text(yaml.safe_dump(tree, sort_keys=False))
    if namespace is not None:
        _spawn(ctx, "ledger", config, args.load_core)
    gateway = _spawn(ctx, "serve", config, args.gateway_core)
    base = f"http://127.0.0.1:{port}"
    gateway.wait_http(f"{base}/health/ready", 90)
    key = generate_key(base, [MODEL], KEY_LIMITS) if args.governed else MASTER_KEY
    spec = LoadSpec(url=f"http://127.0.0.1:{port}/v1/chat/completions",
                    body=body(MODEL, args.stream),
                    headers={"Authorization": f"Bearer {key}",
                             "Content-Type": "application/json"},
                    mode="stream" if args.stream else "closed", concurrency=args.concurrency,
                    duration_s=args.warmup, warmup_s=0.0, max_inflight=2000)
    run_load(spec, core=args.load_core)
    spy = None
    if not args.no_profile:
        cmd = ["taskset", "-c", str(args.load_core), "py-spy", "record", "--nonblocking",
               "-r", str(args.rate), "-d", str(round(args.duration)), "-f", args.format,
               "-o", str(args.out), "-p", str(gateway.pid)]
        if not args.all_threads:
            cmd.append("--gil")
        if args.perf:
            cmd = ["taskset", "-c", str(args.load_core), "perf", "record", "-F", str(args.rate),
                   "-g", "-o", str(args.out), "-p", str(gateway.pid), "--", "sleep",
                   str(round(args.duration))]
        spy = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        time.sleep(0.5)
    cpu0, core0 = gateway.cpu_seconds(), core_busy_seconds(args.gateway_core)
    result = run_load(replace(spec, duration_s=args.duration), core=args.load_core)
    cpu = gateway.cpu_seconds() - cpu0
    busy = core_busy_seconds(args.gateway_core) - core0
    if spy is not None:
        _, err = spy.communicate(timeout=args.duration + 60)
        if spy.returncode:
            print(err.decode()[-2000:], file=sys.stderr)
    served = result.requests - result.errors
    if result.stream:
        ttft, gap = result.stream["ttft_ms"], result.stream["gap_ms"]
        print(f"TTFT p50 {ttft['p50']:.2f} ms, p99 {ttft['p99']:.2f} ms; "
              f"gap p99 {gap['p99']:.2f} ms")
    print(f"{'stream' if args.stream else 'json'} c={args.concurrency} "
          f"{'distributed' if namespace else 'standalone'}"
          f"{' governed' if args.governed else ''}: {result.rps:,.0f} req/s, "
          f"p50 {result.p50_ms:.2f} ms, p99 {result.p99_ms:.2f} ms, errors {result.errors}; "
          f"gateway CPU {1e6 * cpu / max(1, served):,.0f} µs/request "
          f"({100 * cpu / result.duration_s:.0f} %), other work on its core "
          f"{100 * max(0.0, busy - cpu) / result.duration_s:.0f} %")
    if spy is not None:
        print(f"profile: {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
