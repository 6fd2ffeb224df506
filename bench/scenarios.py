"""The scenarios of the benchmark issue, each a table on stdout and ``bench/results/<name>.json``.

* ``u``  the fake upstream alone on one core (proves it is never the bottleneck);
* ``a``  closed loop, 100 in flight, 50 ms upstream: req/s as a share of the 2,000 req/s bound;
* ``b``  latency added at concurrency 1 (gateway minus direct-to-upstream), p50 and p99;
* ``c``  saturation: the most req/s one gateway process gives with a 0 ms upstream;
* ``d``  streaming: added time to first token, p99 gap between chunks, streams held open at once;
* ``e``  memory: RSS idle, after warm-up, under load, and its growth over a long run;
* ``f``  (a)-(c) again with governance on (virtual key, rate limit, budget), LLMux also distributed;
* ``g``  open loop at a fixed rate: latency from the intended send time, drops.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import replace
from typing import Any

from bench.driver import LoadSpec, run_load
from bench.procs import BenchProcess
from bench.report import ratio, table, write_json
from bench.runner import BenchOptions, body, build_targets, load, run_targets
from bench.targets import BenchContext, Endpoint, start_upstreams
from bench.upstream import UpstreamOptions

__all__ = ["SCENARIOS", "run_scenario"]

MODEL = "bench-model"
HOLD_MODEL = "bench-hold"
Payload = dict[str, Any]
DISTURBED_PCT = 10


def _ok(r: dict[str, Any]) -> bool:
    return "unavailable" not in r and "failed" not in r


def _status(r: dict[str, Any]) -> str:
    return "unavailable" if "unavailable" in r else "failed"


def _notes(results: dict[str, dict[str, Any]]) -> list[str]:
    notes = [f"{name}: {note}" for name, r in results.items() for note in r.get("notes", [])]
    disturbed = [name for name, r in results.items()
                 if (r.get("foreign_cpu_on_gateway_core_pct") or 0) > DISTURBED_PCT]
    if disturbed:
        notes.append(f"DISTURBED: other work used more than {DISTURBED_PCT} % of the gateway's "
                     f"core during {', '.join(disturbed)}; rerun on a quiet machine")
    notes += [f"{name}: {_status(r)} — {_brief(str(r.get('unavailable') or r.get('failed')))}"
              for name, r in results.items() if not _ok(r)]
    return notes


def _repeat_notes(results: dict[str, dict[str, Any]]) -> list[str]:
    """Each run's p99 where a figure is the median of several runs: how far to trust it."""
    return [f"{name}: {len(r['repeats'])} runs, the median by req/s shown; p99 of each run "
            f"(ms, in order of req/s): {', '.join(f'{p:.3g}' for p in r['repeat_p99_ms'])}"
            for name, r in results.items() if r.get("repeat_p99_ms")]


def _brief(text: str) -> str:
    """First and last line of an error (the cause and, for a traceback, the exception)."""
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    if len(lines) <= 1:
        return text[:300]
    return f"{lines[0][:200]} … {lines[-1][:200]}"


def _ratios(title: str, results: dict[str, dict[str, Any]],
            metrics: list[tuple[str, Callable[[dict[str, Any]], float | None]]]) -> Payload:
    """Every LLMux variant divided by every LiteLLM variant, for each metric (printed too)."""
    llmux = [n for n, r in results.items() if n.startswith("llmux") and _ok(r)]
    lite = [n for n, r in results.items() if n.startswith("litellm") and _ok(r)]
    pairs = [(a, b) for a in llmux for b in lite]
    out: Payload = {f"{a}/{b}": {label: ratio(get(results[a]), get(results[b]))
                                 for label, get in metrics} for a, b in pairs}
    if pairs:
        rows = [[label, *(out[f"{a}/{b}"][label] for a, b in pairs)] for label, _ in metrics]
        table(f"{title}: LLMux / LiteLLM", ["metric", *(f"{a} / {b}" for a, b in pairs)], rows)
    return out


def _pick(*keys: str) -> Callable[[dict[str, Any]], float | None]:
    def get(r: dict[str, Any]) -> float | None:
        value: Any = r
        for key in keys:
            value = value.get(key) if isinstance(value, dict) else None
        return float(value) if isinstance(value, int | float) else None
    return get


def scenario_u(ctx: BenchContext, opts: BenchOptions) -> Payload:
    """The upstream alone, pinned to the gateway core, driven from the load core."""
    alone = replace(ctx, load_core=ctx.gateway_core)
    models = {MODEL: UpstreamOptions(0.0, opts.stream_chunks, 0.0)}
    ports, procs = start_upstreams(alone, models)
    url = f"http://127.0.0.1:{ports[MODEL]}/v1/chat/completions"
    headers = {"Content-Type": "application/json"}
    try:
        plain = run_load(LoadSpec(url, body(MODEL), headers, concurrency=64,
                                  duration_s=opts.duration_s, warmup_s=opts.warmup_s),
                         core=ctx.load_core, prefer_wrk=opts.prefer_wrk)
        stream = run_load(LoadSpec(url, body(MODEL, True), headers, mode="stream",
                                   concurrency=64, duration_s=opts.duration_s,
                                   warmup_s=opts.warmup_s), core=ctx.load_core)
    finally:
        for proc in procs:
            ctx.procs.stop(proc)
    chunks = stream.rps * (stream.stream or {}).get("chunks_mean", 0)
    table("(u) fake upstream alone on one core",
          ["load", "tool", "req/s", "p50 ms", "p99 ms", "errors"],
          [["JSON, 64 in flight", plain.tool, plain.rps, plain.p50_ms, plain.p99_ms, plain.errors],
           [f"SSE {opts.stream_chunks} chunks, 0 ms apart", stream.tool, stream.rps,
            stream.p50_ms, stream.p99_ms, stream.errors]],
          [f"SSE events delivered: {chunks:,.0f}/s (the Python driver is likely the limit)",
           "target: at least 20,000 req/s"])
    return {"results": {"json": plain.to_json(), "sse": stream.to_json()}}


def scenario_a(ctx: BenchContext, opts: BenchOptions, governed: bool = False) -> Payload:
    bound = opts.concurrency_a / (opts.latency_a_ms / 1000)
    models = {MODEL: UpstreamOptions(latency_s=opts.latency_a_ms / 1000)}
    results = run_targets(ctx, build_targets(opts, governed=governed), models,
                          lambda ep: load(ctx, opts, ep, MODEL, concurrency=opts.concurrency_a))
    rows = [[n, r["rps"], 100 * r["rps"] / bound, r["mean_ms"], r["p99_ms"], r["errors"],
             r.get("gateway_cpu_pct"), r.get("foreign_cpu_on_gateway_core_pct"), r["tool"]]
            if _ok(r) else [n, _status(r)] + [None] * 7 for n, r in results.items()]
    title = f"(a) closed loop, {opts.concurrency_a} in flight, {opts.latency_a_ms:g} ms upstream"
    table(title, ["target", "req/s", "% of bound", "mean ms", "p99 ms", "errors",
                  "gateway CPU %", "other CPU % on its core", "driver"], rows,
          [f"bound = {opts.concurrency_a} / {opts.latency_a_ms / 1000:g} s = {bound:,.0f} req/s",
           *_notes(results)])
    ratios = _ratios("(a)", results, [("req/s", _pick("rps")), ("mean ms", _pick("mean_ms")),
                                      ("p99 ms", _pick("p99_ms"))])
    return {"params": {"concurrency": opts.concurrency_a, "latency_ms": opts.latency_a_ms,
                       "bound_rps": bound}, "results": results, "ratios": ratios}


def scenario_b(ctx: BenchContext, opts: BenchOptions, governed: bool = False) -> Payload:
    models = {MODEL: UpstreamOptions(latency_s=opts.latency_b_ms / 1000)}
    results = run_targets(ctx, build_targets(opts, governed=governed, include_direct=True),
                          models, lambda ep: load(ctx, opts, ep, MODEL, concurrency=1))
    base = results.get("direct", {})
    for r in results.values():
        if _ok(r) and _ok(base):
            r["added_p50_ms"] = r["p50_ms"] - base["p50_ms"]
            r["added_p99_ms"] = r["p99_ms"] - base["p99_ms"]
            r["added_mean_ms"] = r["mean_ms"] - base["mean_ms"]
    rows = [[n, r["p50_ms"], r["p99_ms"], r["mean_ms"], r.get("added_p50_ms"),
             r.get("added_p99_ms"), r["rps"], r["errors"]] if _ok(r) else [n, _status(r)]
            + [None] * 6 for n, r in results.items()]
    table(f"(b) latency added at concurrency 1 ({opts.latency_b_ms:g} ms upstream)",
          ["target", "p50 ms", "p99 ms", "mean ms", "added p50", "added p99", "req/s", "errors"],
          rows, ["added = target minus direct-to-upstream, same run", *_repeat_notes(results),
                 *_notes(results)])
    ratios = _ratios("(b)", results, [("added p50 ms", _pick("added_p50_ms")),
                                      ("added p99 ms", _pick("added_p99_ms")),
                                      ("p50 ms", _pick("p50_ms")), ("p99 ms", _pick("p99_ms"))])
    return {"params": {"concurrency": 1, "latency_ms": opts.latency_b_ms},
            "results": results, "ratios": ratios}


def scenario_c(ctx: BenchContext, opts: BenchOptions, governed: bool = False) -> Payload:
    models = {MODEL: UpstreamOptions(latency_s=0.0)}

    def measure(ep: Endpoint) -> dict[str, Any]:
        levels = {str(c): load(ctx, opts, ep, MODEL, concurrency=c)
                  for c in opts.saturation_levels}
        best = max(levels, key=lambda c: levels[c]["rps"])
        return {"levels": levels, "best_concurrency": int(best), **levels[best]}

    results = run_targets(ctx, build_targets(opts, governed=governed), models, measure)
    rows = [[n, *(r["levels"][str(c)]["rps"] for c in opts.saturation_levels), r["rps"],
             r["p99_ms"], r["errors"], r.get("gateway_cpu_pct"),
             r.get("foreign_cpu_on_gateway_core_pct")] if _ok(r)
            else [n, _status(r)] + [None] * (len(opts.saturation_levels) + 4)
            for n, r in results.items()]
    table("(c) saturation, 0 ms upstream (req/s by concurrency)",
          ["target", *(f"c={c}" for c in opts.saturation_levels), "max req/s", "p99 ms at max",
           "errors at max", "gateway CPU %", "other CPU % on its core"], rows, _notes(results))
    ratios = _ratios("(c)", results, [("max req/s", _pick("rps")),
                                      ("p99 ms at max", _pick("p99_ms"))])
    return {"params": {"levels": opts.saturation_levels}, "results": results, "ratios": ratios}


def scenario_d(ctx: BenchContext, opts: BenchOptions) -> Payload:
    interval, hold = opts.chunk_interval_ms / 1000, opts.hold_interval_ms / 1000
    models = {MODEL: UpstreamOptions(opts.latency_b_ms / 1000, opts.stream_chunks, interval),
              HOLD_MODEL: UpstreamOptions(0.0, opts.stream_chunks, hold)}
    stream_s = opts.stream_chunks * hold

    def measure(ep: Endpoint) -> dict[str, Any]:
        fast = load(ctx, opts, ep, MODEL, mode="stream", concurrency=opts.stream_concurrency)
        held = load(ctx, opts, ep, HOLD_MODEL, mode="stream", concurrency=opts.hold_streams,
                    duration_s=max(opts.duration_s, stream_s * 1.5), warmup_s=0.0,
                    timeout_s=stream_s + 60)
        return {**fast, "hold": held}

    results = run_targets(ctx, build_targets(opts, include_direct=True), models, measure)
    base = results.get("direct", {})
    for r in results.values():
        if _ok(r) and _ok(base):
            for p in ("p50", "p99"):
                r[f"added_ttft_{p}_ms"] = r["stream"]["ttft_ms"][p] - base["stream"]["ttft_ms"][p]
    rows = [[n, r["stream"]["ttft_ms"]["p50"], r["stream"]["ttft_ms"]["p99"],
             r.get("added_ttft_p50_ms"), r.get("added_ttft_p99_ms"), r["stream"]["gap_ms"]["p99"],
             r["rps"], r["stream"]["chunks_mean"], r["errors"]] if _ok(r)
            else [n, _status(r)] + [None] * 7 for n, r in results.items()]
    table(f"(d1) streaming: {opts.stream_chunks} chunks every {opts.chunk_interval_ms:g} ms, "
          f"{opts.stream_concurrency} streams in flight",
          ["target", "TTFT p50", "TTFT p99", "added TTFT p50", "added TTFT p99", "gap p99 ms",
           "streams/s", "events/stream", "errors"], rows, _notes(results))
    hold_rows = [[n, opts.hold_streams, r["hold"]["stream"]["peak_open"], r["hold"]["requests"]
                  - r["hold"]["errors"], r["hold"]["errors"], r["hold"]["stream"]["ttft_ms"]["p99"],
                  r["hold"]["stream"]["gap_ms"]["p99"], r["hold"].get("gateway_rss_mib")]
                 if _ok(r) else [n, _status(r)] + [None] * 6 for n, r in results.items()]
    table(f"(d2) streams held: {opts.hold_streams} at once, {opts.stream_chunks} chunks every "
          f"{opts.hold_interval_ms:g} ms", ["target", "asked", "peak open", "completed", "errors",
                                            "TTFT p99", "gap p99 ms", "gateway RSS MiB"],
          hold_rows)
    ratios = _ratios("(d)", results, [
        ("added TTFT p99 ms", _pick("added_ttft_p99_ms")),
        ("gap p99 ms", _pick("stream", "gap_ms", "p99")),
        ("streams/s", _pick("rps")),
        ("peak streams held", _pick("hold", "stream", "peak_open")),
        ("hold gap p99 ms", _pick("hold", "stream", "gap_ms", "p99"))])
    return {"params": {"chunks": opts.stream_chunks, "interval_ms": opts.chunk_interval_ms,
                       "concurrency": opts.stream_concurrency, "hold_streams": opts.hold_streams,
                       "hold_interval_ms": opts.hold_interval_ms},
            "results": results, "ratios": ratios}


def scenario_e(ctx: BenchContext, opts: BenchOptions) -> Payload:
    models = {MODEL: UpstreamOptions(latency_s=0.0)}
    # NOTE: a variant (llmux-dist: the gateway and its ledger process) only when named in full.
    variants = [t for t in build_targets(opts, governed=True) if t.name in opts.targets]
    targets = [t for t in build_targets(opts) + variants if t.gateway]
    results = run_targets(ctx, targets, models, lambda ep: _memory(ctx, opts, ep))
    rows = [[n, r["idle_mib"], r["after_warmup_mib"], r["max_under_load_mib"], r["end_mib"],
             r["growth_mib"], r["growth_mib_per_10min"], r["growth_anon_mib"],
             r["growth_file_mib"], r["load"]["requests"],
             r["load"]["errors"]] if _ok(r) else [n, _status(r)] + [None] * 9
            for n, r in results.items()]
    rows += [[helper, h["idle_mib"], h["after_warmup_mib"], h["max_under_load_mib"],
              h["end_mib"], h["growth_mib"], h["growth_mib_per_10min"], h["growth_anon_mib"],
              h["growth_file_mib"], None, None]
             for r in results.values() if _ok(r) for helper, h in r["helpers"].items()]
    table(f"(e) memory (RSS, MiB): {opts.memory_duration_s:g} s of closed-loop load at "
          f"{opts.memory_concurrency} in flight after {opts.memory_warmup_s:g} s warm-up",
          ["target", "idle", "after warm-up", "max under load", "end", "growth",
           "growth / 10 min", "anon growth", "file growth", "requests", "errors"], rows,
          ["growth = end minus after warm-up; RSS summed over the gateway's process tree",
           "a row named <target>-ledger-<port>: that target's `llmux ledger` process, same run",
           "anon = heap and stacks (where a leak shows); file = mapped code and libraries",
           *_notes(results)])
    ratios = _ratios("(e)", results, [("idle MiB", _pick("idle_mib")),
                                      ("max under load MiB", _pick("max_under_load_mib"))])
    return {"params": {"duration_s": opts.memory_duration_s, "warmup_s": opts.memory_warmup_s,
                       "concurrency": opts.memory_concurrency},
            "results": results, "ratios": ratios}


def _rss_mib(proc: BenchProcess) -> tuple[float, float, float]:
    """RSS and its anonymous and file-backed parts, in MiB (a leak grows the anonymous part)."""
    return (proc.rss_kib() / 1024, proc.rss_kib("RssAnon") / 1024, proc.rss_kib("RssFile") / 1024)


def _memory(ctx: BenchContext, opts: BenchOptions, ep: Endpoint) -> dict[str, Any]:
    """The gateway's memory over the run; each helper's (the distributed ledger) under ``helpers``.

    The helpers are sampled the same way because they run as long as the gateway does: a process
    that creeps is a pod that gets OOM-killed, whichever process it is.
    """
    assert ep.process is not None
    procs = [ep.process, *ep.helpers]
    time.sleep(2.0)
    idle = [proc.rss_kib() / 1024 for proc in procs]
    load(ctx, opts, ep, MODEL, concurrency=opts.memory_concurrency,
         duration_s=opts.memory_warmup_s, warmup_s=0.0)
    after_warmup = [_rss_mib(proc) for proc in procs]
    out: dict[str, Any] = {}
    samples: list[list[tuple[float, float, float, float]]] = [[] for _ in procs]
    worker = threading.Thread(target=lambda: out.update(load(
        ctx, opts, ep, MODEL, concurrency=opts.memory_concurrency,
        duration_s=opts.memory_duration_s, warmup_s=0.0)), daemon=True)
    t0 = time.monotonic()
    worker.start()
    deadline = t0 + opts.memory_duration_s + 120
    while worker.is_alive() and time.monotonic() < deadline:
        t_s = round(time.monotonic() - t0, 1)
        for proc, proc_samples in zip(procs, samples, strict=True):
            proc_samples.append((t_s, *_rss_mib(proc)))
        worker.join(1.0)
    if not out:
        raise RuntimeError("memory load run did not finish")
    summaries = [_memory_summary(opts, idle[i], after_warmup[i], samples[i], _rss_mib(proc))
                 for i, proc in enumerate(procs)]
    return {**summaries[0], "load": out,
            "helpers": {proc.name: summary
                        for proc, summary in zip(ep.helpers, summaries[1:], strict=True)}}


def _memory_summary(opts: BenchOptions, idle: float, after_warmup: tuple[float, float, float],
                    samples: list[tuple[float, float, float, float]],
                    end: tuple[float, float, float]) -> dict[str, Any]:
    growth = end[0] - after_warmup[0]
    return {"idle_mib": idle, "after_warmup_mib": after_warmup[0],
            "max_under_load_mib": max((s[1] for s in samples), default=end[0]), "end_mib": end[0],
            "growth_mib": growth,
            "growth_mib_per_10min": growth * 600 / max(opts.memory_duration_s, 1.0),
            "growth_anon_mib": end[1] - after_warmup[1],
            "growth_file_mib": end[2] - after_warmup[2],
            "samples_fields": ["t_s", "rss_mib", "anon_mib", "file_mib"],
            "samples": samples[:: max(1, len(samples) // 300)]}


def scenario_f(ctx: BenchContext, opts: BenchOptions) -> Payload:
    """(a)-(c) with governance (and LLMux's distributed mode with the ledger)."""
    print("\n## (f) governance on: scenarios (a), (b), (c) again", flush=True)
    return {"a": scenario_a(ctx, opts, governed=True), "b": scenario_b(ctx, opts, governed=True),
            "c": scenario_c(ctx, opts, governed=True)}


def scenario_g(ctx: BenchContext, opts: BenchOptions) -> Payload:
    models = {MODEL: UpstreamOptions(latency_s=opts.latency_a_ms / 1000)}
    results = run_targets(ctx, build_targets(opts), models, lambda ep: load(
        ctx, opts, ep, MODEL, mode="open", rate=opts.open_rate))
    rows = [[n, opts.open_rate, r["rps"], r["p50_ms"], r["p99_ms"], r["errors"], r["dropped"]]
            if _ok(r) else [n, _status(r)] + [None] * 5 for n, r in results.items()]
    table(f"(g) open loop at {opts.open_rate:g} req/s, {opts.latency_a_ms:g} ms upstream",
          ["target", "rate", "achieved req/s", "p50 ms", "p99 ms", "errors", "dropped"], rows,
          ["latency from the intended send time (no coordinated omission)", *_notes(results)])
    ratios = _ratios("(g)", results, [("achieved req/s", _pick("rps")),
                                      ("p99 ms", _pick("p99_ms"))])
    return {"params": {"rate": opts.open_rate, "latency_ms": opts.latency_a_ms},
            "results": results, "ratios": ratios}


SCENARIOS: dict[str, Callable[[BenchContext, BenchOptions], Payload]] = {
    "u": scenario_u, "a": scenario_a, "b": scenario_b, "c": scenario_c, "d": scenario_d,
    "e": scenario_e, "f": scenario_f, "g": scenario_g,
}


def _loadavg() -> float | None:
    """The 1-minute load average: other work on the machine makes every figure noisier."""
    try:
        with open("/proc/loadavg") as f:
            return float(f.read().split()[0])
    except (OSError, ValueError):
        return None


def run_scenario(name: str, ctx: BenchContext, opts: BenchOptions,
                 machine: dict[str, Any]) -> Payload:
    print(f"\n## scenario ({name})", flush=True)
    started = time.monotonic()
    load_before = _loadavg()
    payload = SCENARIOS[name](ctx, opts)
    payload = {"machine": machine, "targets": opts.targets, "duration_s": opts.duration_s,
               "warmup_s": opts.warmup_s, "repeat": opts.repeat,
               "elapsed_s": time.monotonic() - started,
               "loadavg_before_after": [load_before, _loadavg()], **payload}
    write_json(name, payload, opts.results_dir)
    return payload
