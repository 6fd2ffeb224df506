"""Closed-loop load with Debian's ``wrk`` (C, event-driven: the cheapest driver on a shared core).

``wrk -t1 -cN`` keeps exactly N requests in flight, one per connection. A Lua script sets the POST
body and headers and prints a one-line JSON summary in ``done()`` so nothing is scraped from the
human-readable output. wrk cannot read SSE timings, so streaming runs use the Python driver.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import tempfile
from pathlib import Path

from bench.stats import LoadResult

__all__ = ["run_wrk", "wrk_available"]

_LUA = """
wrk.method = "POST"
wrk.body = {body}
{headers}
done = function(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    '\\nBENCH_JSON {{"requests":%d,"duration_us":%d,"mean_us":%f,"p50_us":%d,"p99_us":%d,' ..
    '"connect":%d,"read":%d,"write":%d,"status":%d,"timeout":%d}}\\n',
    summary.requests, summary.duration, latency.mean, latency:percentile(50),
    latency:percentile(99), e.connect, e.read, e.write, e.status, e.timeout))
end
"""


def wrk_available() -> bool:
    return shutil.which("wrk") is not None


def _lua_string(text: str) -> str:
    """A Lua long-bracket literal that cannot be closed by the text inside it."""
    level = 0
    while f"]{'=' * level}]" in text:
        level += 1
    return f"[{'=' * level}[{text}]{'=' * level}]"


def _script(body: bytes, headers: dict[str, str]) -> str:
    lines = "\n".join(f"wrk.headers[ {_lua_string(k)} ] = {_lua_string(v)}"
                      for k, v in headers.items())
    return _LUA.format(body=_lua_string(body.decode()), headers=lines)


def run_wrk(url: str, body: bytes, headers: dict[str, str], *, concurrency: int,
            duration_s: float, core: int | None, timeout_s: float = 30.0) -> LoadResult:
    """Run one closed-loop measurement; ``core`` pins wrk with taskset."""
    with tempfile.TemporaryDirectory(prefix="bench-wrk-") as tmp:
        script = Path(tmp) / "post.lua"
        script.write_text(_script(body, headers))
        cmd = ["wrk", "-t1", f"-c{concurrency}", f"-d{max(1, round(duration_s))}s",
               f"--timeout={max(1, round(timeout_s))}s", "-s", str(script), url]
        if core is not None:
            cmd = ["taskset", "-c", str(core), *cmd]
        proc = subprocess.run(cmd, capture_output=True, text=True,
                              timeout=duration_s + timeout_s + 30, check=False)
    line = next((ln for ln in proc.stdout.splitlines() if ln.startswith("BENCH_JSON ")), None)
    if proc.returncode != 0 or line is None:
        raise RuntimeError(f"wrk failed ({proc.returncode}): {proc.stderr.strip()[:500]}")
    data = json.loads(line.removeprefix("BENCH_JSON "))
    errors = sum(data[k] for k in ("connect", "read", "write", "status", "timeout"))
    seconds = data["duration_us"] / 1e6
    samples = [f"{k}={data[k]}" for k in ("connect", "read", "write", "status", "timeout")
               if data[k]]
    return LoadResult(
        tool="wrk", mode="closed", concurrency=concurrency, duration_s=seconds,
        requests=data["requests"], errors=errors,
        rps=(data["requests"] - data["status"]) / seconds if seconds else 0.0,
        mean_ms=data["mean_us"] / 1000, p50_ms=data["p50_us"] / 1000,
        p99_ms=data["p99_us"] / 1000, error_samples=samples,
    )
