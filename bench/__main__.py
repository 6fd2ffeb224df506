"""``python -m bench``: run the benchmark scenarios side by side (see ``bench/README.md``).

Examples::

    python -m bench                                    # every scenario, every target
    python -m bench --scenario a --target llmux,litellm,direct --duration 10
    python -m bench --scenario e --duration 60         # a one-minute memory run
"""

from __future__ import annotations

import argparse
import os
import shutil
import signal
import sys
import tempfile
import time
from pathlib import Path
from types import FrameType

from bench.procs import ProcessSet
from bench.report import RESULTS_DIR, machine_info
from bench.runner import BenchOptions
from bench.scenarios import SCENARIOS, run_scenario
from bench.service_affinity import SERVICE_NAMES, services_on_core
from bench.targets import BenchContext
from bench.wrk import wrk_available

DEFAULT_ORDER = ["u", "a", "b", "c", "d", "g", "f", "e"]


def _csv(text: str) -> list[str]:
    return [part.strip() for part in text.split(",") if part.strip()]


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m bench", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--scenario", default="all", help="comma list of u,a,b,c,d,e,f,g or 'all'")
    p.add_argument("--target", default="direct,llmux,litellm",
                   help="comma list: direct, llmux, litellm (or a variant: llmux-gov, "
                        "llmux-dist, litellm-gov)")
    p.add_argument("--duration", type=float, default=None, help="seconds per measured run (10)")
    p.add_argument("--warmup", type=float, default=3.0, help="seconds of warm-up before each run")
    p.add_argument("--repeat", type=int, default=1,
                   help="measured runs per figure; the median by req/s is reported")
    p.add_argument("--memory-duration", type=float, default=None,
                   help="seconds of load in (e); default 600, or --duration when given")
    p.add_argument("--memory-warmup", type=float, default=None,
                   help="warm-up before (e)'s baseline; default 60 s (less for short runs)")
    p.add_argument("--concurrency", type=int, default=100, help="(a): requests in flight")
    p.add_argument("--latency-ms", type=float, default=50.0, help="(a),(g): upstream latency")
    p.add_argument("--levels", default="16,64,256", help="(c): concurrency levels to try")
    p.add_argument("--chunks", type=int, default=64, help="(d): chunks per stream")
    p.add_argument("--chunk-interval-ms", type=float, default=5.0, help="(d): chunk interval")
    p.add_argument("--stream-concurrency", type=int, default=10, help="(d): streams in flight")
    p.add_argument("--hold-streams", type=int, default=1000, help="(d): streams held at once")
    p.add_argument("--hold-interval-ms", type=float, default=100.0,
                   help="(d): chunk interval of the held streams")
    p.add_argument("--rate", type=float, default=500.0, help="(g): open-loop req/s")
    p.add_argument("--install-litellm", action="store_true",
                   help="create bench/.venv-litellm with the pinned LiteLLM if it is missing")
    p.add_argument("--no-wrk", action="store_true", help="use the Python driver even if wrk is "
                   "installed")
    p.add_argument("--gateway-core", type=int, default=0)
    p.add_argument("--load-core", type=int, default=1)
    p.add_argument("--no-pin", action="store_true", help="do not pin anything (not comparable)")
    p.add_argument("--services-float", action="store_true",
                   help="leave Postgres, Redis and NATS on every core (default: the load core)")
    p.add_argument("--results-dir", type=Path, default=RESULTS_DIR)
    p.add_argument("--keep-logs", action="store_true", help="keep generated configs and logs")
    return p


def _options(args: argparse.Namespace) -> BenchOptions:
    duration = 10.0 if args.duration is None else args.duration
    memory = args.memory_duration or args.duration or 600.0
    memory_warmup = args.memory_warmup
    if memory_warmup is None:
        memory_warmup = min(60.0, max(5.0, memory / 10))
    return BenchOptions(
        targets=_csv(args.target), duration_s=duration, warmup_s=args.warmup, repeat=args.repeat,
        concurrency_a=args.concurrency, latency_a_ms=args.latency_ms,
        saturation_levels=[int(c) for c in _csv(args.levels)], stream_chunks=args.chunks,
        chunk_interval_ms=args.chunk_interval_ms, stream_concurrency=args.stream_concurrency,
        hold_streams=args.hold_streams, hold_interval_ms=args.hold_interval_ms,
        memory_duration_s=memory, memory_warmup_s=memory_warmup, open_rate=args.rate,
        install_litellm=args.install_litellm, prefer_wrk=not args.no_wrk,
        results_dir=args.results_dir,
    )


def _terminate(signum: int, frame: FrameType | None) -> None:
    raise KeyboardInterrupt(f"signal {signum}")


def main(argv: list[str] | None = None) -> int:
    parser = _parser()
    args = parser.parse_args(argv)
    names = DEFAULT_ORDER if args.scenario == "all" else _csv(args.scenario)
    unknown = [n for n in names if n not in SCENARIOS]
    if unknown:
        parser.error(f"unknown scenario(s) {unknown}; choose from {sorted(SCENARIOS)}")
    opts = _options(args)
    gateway_core = None if args.no_pin else args.gateway_core
    load_core = None if args.no_pin else args.load_core
    if load_core is not None:
        # NOTE: the orchestrator itself lives on the load core, never on the gateway's.
        os.sched_setaffinity(0, {load_core})
    signal.signal(signal.SIGTERM, _terminate)
    # NOTE: a shell starting us in the background ignores SIGINT; restore Ctrl-C explicitly.
    signal.signal(signal.SIGINT, signal.default_int_handler)
    workdir = Path(tempfile.mkdtemp(prefix="llmux-bench-"))
    machine = machine_info(gateway_core, load_core)
    print(f"bench: scenarios {','.join(names)}; targets {','.join(opts.targets)}; "
          f"driver {'wrk' if wrk_available() and opts.prefer_wrk else 'python'} (+python for "
          f"SSE); gateway on core {gateway_core}, upstream+driver on core {load_core}; "
          f"logs in {workdir}", flush=True)
    started = time.monotonic()
    try:
        services_core = None if args.services_float else load_core
        with ProcessSet() as procs, services_on_core(services_core) as moved:
            if moved:
                print(f"bench: {moved} threads of {', '.join(SERVICE_NAMES)} moved to core "
                      f"{load_core} for the run", flush=True)
            ctx = BenchContext(workdir, procs, gateway_core, load_core)
            for name in names:
                run_scenario(name, ctx, opts, machine)
    except KeyboardInterrupt:
        print("\nbench: interrupted; every child process was stopped", file=sys.stderr)
        return 130
    finally:
        if args.keep_logs:
            print(f"bench: logs kept in {workdir}")
        else:
            shutil.rmtree(workdir, ignore_errors=True)
    print(f"\nbench: done in {time.monotonic() - started:.0f} s; results in {opts.results_dir}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
