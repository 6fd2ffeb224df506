"""LiteLLM side by side: its own virtualenv under ``bench/``, a generated config, one pinned worker.

``python -m bench.litellm_env`` creates ``bench/.venv-litellm`` and installs the pinned
``litellm[proxy]`` from PyPI into it (a few minutes the first time); the benchmark does the same on
demand when ``--install-litellm`` is given, and otherwise reports LiteLLM as unavailable.

LiteLLM is configured like LLMux: the same fake upstreams as ``openai/<model>`` deployments with
``api_base``, a master key, one worker (``--num_workers 1``) pinned to the gateway core, and its
model-cost map read locally (the machine has no internet), uvicorn's access log off and the same
keep-alive timeout as LLMux (75 s), so neither side pays for something the other skips.

Governance: LiteLLM's virtual keys, per-key RPM limits and budgets need its Prisma client on
Postgres, and ``prisma generate`` downloads engine binaries at run time, which this machine cannot
do. ``litellm-gov`` therefore runs with what LiteLLM offers without a database: master-key auth,
per-deployment ``rpm``/``tpm`` limits enforced by its router, and a proxy-wide ``max_budget``.
The tables say so next to every figure (``Endpoint.notes``).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import yaml

from bench.procs import BenchProcess, StartupError
from bench.targets import BenchContext, Endpoint, TargetUnavailable, free_port

__all__ = ["LITELLM_VERSION", "LiteLLMTarget", "ensure_litellm", "litellm_config", "main"]

LITELLM_VERSION = "1.80.17"
VENV = Path(__file__).resolve().parent / ".venv-litellm"
MASTER_KEY = "sk-bench-master-0123456789"
UPSTREAM_KEY = "sk-bench-upstream"

_LOGGING: dict[str, Any] = {
    "version": 1, "disable_existing_loggers": False,
    "handlers": {"stderr": {"class": "logging.StreamHandler", "stream": "ext://sys.stderr"}},
    "loggers": {"uvicorn": {"handlers": ["stderr"], "level": "WARNING"},
                "uvicorn.error": {"level": "WARNING"},
                "uvicorn.access": {"handlers": [], "level": "WARNING", "propagate": False}},
}
"""Uvicorn logging without the access log: LLMux runs with ``access_log=False``, so LiteLLM does
too (the access log alone halves a Python server's throughput; stack.md §1)."""


def litellm_binary() -> Path:
    return VENV / "bin" / "litellm"


def installed_version() -> str | None:
    python = VENV / "bin" / "python"
    if not python.exists():
        return None
    proc = subprocess.run(
        [str(python), "-c", "import importlib.metadata as m; print(m.version('litellm'))"],
        capture_output=True, text=True, timeout=60, check=False)
    return proc.stdout.strip() or None if proc.returncode == 0 else None


def ensure_litellm(install: bool) -> Path:
    """The ``litellm`` executable at the pinned version, installing it first if asked to."""
    if installed_version() == LITELLM_VERSION and litellm_binary().exists():
        return litellm_binary()
    if not install:
        raise TargetUnavailable(
            f"LiteLLM {LITELLM_VERSION} is not installed in {VENV}; run `python -m "
            "bench.litellm_env` (or pass --install-litellm)")
    print(f"bench: installing litellm[proxy]=={LITELLM_VERSION} into {VENV} ...", flush=True)
    steps = [[sys.executable, "-m", "venv", str(VENV)],
             [str(VENV / "bin" / "python"), "-m", "pip", "install", "--quiet",
              f"litellm[proxy]=={LITELLM_VERSION}"]]
    for step in steps:
        proc = subprocess.run(step, capture_output=True, text=True, timeout=1800, check=False)
        if proc.returncode != 0:
            raise TargetUnavailable(f"{' '.join(step[:4])} failed: {proc.stderr.strip()[-800:]}")
    return litellm_binary()


def litellm_config(upstreams: dict[str, int], governed: bool) -> dict[str, Any]:
    """A LiteLLM proxy config routing each model to its fake upstream."""
    model_list = []
    for model, port in upstreams.items():
        params: dict[str, Any] = {"model": f"openai/{model}",
                                  "api_base": f"http://127.0.0.1:{port}/v1",
                                  "api_key": UPSTREAM_KEY}
        if governed:
            params.update(rpm=1_000_000_000, tpm=1_000_000_000_000)
        model_list.append({"model_name": model, "litellm_params": params})
    tree: dict[str, Any] = {"model_list": model_list,
                            "general_settings": {"master_key": MASTER_KEY},
                            "litellm_settings": {"set_verbose": False}}
    if governed:
        tree["litellm_settings"]["max_budget"] = 1_000_000.0
        tree["litellm_settings"]["budget_duration"] = "30d"
    return tree


class LiteLLMTarget:
    """``litellm --config FILE --num_workers 1`` from the bench virtualenv, on the gateway core."""

    gateway = True

    def __init__(self, *, governed: bool = False, install: bool = False) -> None:
        self.governed = governed
        self.install = install
        self.name = "litellm-gov" if governed else "litellm"

    def start(self, ctx: BenchContext, upstreams: dict[str, int]) -> Endpoint:
        binary = ensure_litellm(self.install)
        port = free_port()
        config = ctx.workdir / f"{self.name}-{port}.yaml"
        config.write_text(yaml.safe_dump(litellm_config(upstreams, self.governed),
                                         sort_keys=False))
        log_config = ctx.workdir / "litellm-logging.json"
        log_config.write_text(json.dumps(_LOGGING))
        argv = [str(binary), "--config", str(config), "--host", "127.0.0.1", "--port", str(port),
                "--num_workers", "1", "--log_config", str(log_config), "--keepalive_timeout", "75",
                "--telemetry", "False"]
        env: dict[str, str | None] = {
               "LITELLM_LOG": "ERROR", "LITELLM_LOCAL_MODEL_COST_MAP": "True",
               "DATABASE_URL": None, "STORE_MODEL_IN_DB": "False",
               "PATH": f"{VENV / 'bin'}:{os.environ.get('PATH', '')}"}
        proc = ctx.procs.start(BenchProcess(f"{self.name}-{port}", argv, core=ctx.gateway_core,
                                            log_dir=ctx.workdir, env=env, cwd=ctx.workdir))
        base = f"http://127.0.0.1:{port}"
        endpoint = Endpoint(self.name, {m: f"{base}/v1/chat/completions" for m in upstreams},
                            {"Authorization": f"Bearer {MASTER_KEY}"}, process=proc)
        if self.governed:
            endpoint.notes.append("master key; router rpm/tpm per deployment and a proxy-wide "
                                  "max_budget (virtual keys need Prisma, not installable offline)")
        try:
            proc.wait_http(f"{base}/health/liveliness", ctx.startup_timeout_s)
        except StartupError as exc:
            ctx.procs.stop(proc)
            raise TargetUnavailable(str(exc)) from None
        return endpoint

    def stop(self, ctx: BenchContext, endpoint: Endpoint) -> None:
        if endpoint.process is not None:
            ctx.procs.stop(endpoint.process)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.litellm_env", description=__doc__)
    parser.parse_args(argv)
    try:
        binary = ensure_litellm(install=True)
    except TargetUnavailable as exc:
        print(f"bench: {exc}", file=sys.stderr)
        return 1
    print(f"LiteLLM {installed_version()} ready: {binary}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
