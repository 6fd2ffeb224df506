"""LLMux under test: config generated into the run's temp dir, one pinned ``serve`` process.

Three variants:
* ``llmux``: standalone, calls authenticated with the master key (no per-key limits);
* ``llmux-gov``: standalone, calls with a virtual key that has an RPM limit and a budget;
* ``llmux-dist``: distributed mode, the same virtual key, Redis holding the limits, and a
  ``ledger`` process persisting every event from NATS into Postgres (own database, stream and
  Redis prefix, removed afterwards).
If the gateway cannot start (it is still being written), the target raises ``TargetUnavailable``
with the tail of its log, and the scenario reports it and goes on with the other targets.
"""

from __future__ import annotations

import json
import sys
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

import yaml

from bench.procs import BenchProcess, StartupError
from bench.services import DistributedNamespace
from bench.targets import REPO_ROOT, BenchContext, Endpoint, TargetUnavailable, free_port

__all__ = ["KEY_LIMITS", "MASTER_KEY", "LLMuxTarget", "generate_key", "llmux_config"]

MASTER_KEY = "sk-bench-master-0123456789"
UPSTREAM_KEY = "sk-bench-upstream"
KEY_LIMITS: dict[str, Any] = {"rpm_limit": 1_000_000_000, "tpm_limit": 1_000_000_000_000,
                              "max_budget": 1_000_000.0}
"""Generous enough never to refuse a benchmark request, present so every check runs."""


def llmux_config(port: int, upstreams: dict[str, int], data_dir: Path,
                 namespace: DistributedNamespace | None) -> dict[str, Any]:
    """The YAML tree (DESIGN.md §7) for one gateway in front of the fake upstreams."""
    providers = [{"name": f"bench-{i}", "type": "openai", "api_key": UPSTREAM_KEY,
                  "base_url": f"http://127.0.0.1:{up_port}/v1", "models": [model]}
                 for i, (model, up_port) in enumerate(upstreams.items())]
    tree: dict[str, Any] = {
        "server": {"host": "127.0.0.1", "port": port},
        "deployment": {"mode": "standalone", "data_dir": str(data_dir)},
        "providers": providers,
        "auth": {"master_key": MASTER_KEY},
        "logging": {"level": "warning"},
    }
    if namespace is not None:
        tree["deployment"]["mode"] = "distributed"
        tree["auth"]["hash_secret"] = "bench-hash-secret-" + namespace.name
        tree["nats"] = {"url": namespace.nats_url, "stream": namespace.name.upper(),
                        "subject_prefix": namespace.name}
        tree["database"] = {"url": namespace.database_url}
        tree["redis"] = {"url": namespace.redis_url, "key_prefix": namespace.name + ":"}
    return tree


def with_overrides(tree: dict[str, Any], settings: list[str]) -> dict[str, Any]:
    """``tree`` with each ``dotted.key=value`` set (the value read as YAML), for trying settings.

    ``with_overrides(tree, ["ledger.batch_wait=10ms", "bus.max_backlog=null"])``
    """
    for setting in settings:
        path, sep, text = setting.partition("=")
        if not sep or not path:
            raise ValueError(f"--set {setting!r}: expected dotted.key=value")
        *parents, leaf = path.split(".")
        node = tree
        for name in parents:
            node = node.setdefault(name, {})
        node[leaf] = yaml.safe_load(text)
    return tree


class LLMuxTarget:
    """``python -m ingress.cli serve --config FILE`` pinned to the gateway core."""

    gateway = True

    def __init__(self, *, governed: bool = False, distributed: bool = False) -> None:
        self.governed = governed or distributed
        self.distributed = distributed
        self.name = "llmux-dist" if distributed else "llmux-gov" if governed else "llmux"
        self._namespace: DistributedNamespace | None = None

    def start(self, ctx: BenchContext, upstreams: dict[str, int]) -> Endpoint:
        port = free_port()
        if self.distributed:
            self._namespace = DistributedNamespace.create()
        tree = llmux_config(port, upstreams, ctx.workdir / f"{self.name}-data", self._namespace)
        config = ctx.workdir / f"{self.name}-{port}.yaml"
        config.write_text(yaml.safe_dump(tree, sort_keys=False))
        endpoint = Endpoint(self.name, {}, {"Authorization": f"Bearer {MASTER_KEY}"})
        try:
            if self.distributed:
                endpoint.helpers.append(self._spawn(ctx, "ledger", config))
            endpoint.process = self._spawn(ctx, "serve", config)
            base = f"http://127.0.0.1:{port}"
            endpoint.process.wait_http(f"{base}/health/ready", ctx.startup_timeout_s)
            for helper in endpoint.helpers:
                if not helper.alive():
                    raise StartupError(f"{helper.name} exited:\n{helper.log_tail()}")
            if self.governed:
                key = generate_key(base, list(upstreams), KEY_LIMITS)
                endpoint.headers = {"Authorization": f"Bearer {key}"}
                endpoint.notes.append("virtual key with rpm_limit, tpm_limit and max_budget; "
                                      + _probe_rate_limit(base, next(iter(upstreams))))
        except (StartupError, OSError, ValueError, KeyError) as exc:
            self.stop(ctx, endpoint)
            raise TargetUnavailable(f"{self.name} did not start: {exc}") from None
        endpoint.urls = {model: f"{base}/v1/chat/completions" for model in upstreams}
        return endpoint

    def _spawn(self, ctx: BenchContext, command: str, config: Path) -> BenchProcess:
        argv = [sys.executable, "-m", "ingress.cli", command, "--config", str(config)]
        # NOTE: helpers (the ledger) share the load core; only the gateway owns a core.
        core = ctx.gateway_core if command == "serve" else ctx.load_core
        env = {"PYTHONPATH": str(REPO_ROOT)}
        name = f"{self.name}-{command}-{config.stem.rsplit('-', 1)[-1]}"
        return ctx.procs.start(BenchProcess(name, argv, core=core,
                                            log_dir=ctx.workdir, env=env, cwd=REPO_ROOT))

    def stop(self, ctx: BenchContext, endpoint: Endpoint) -> None:
        if self._namespace is not None and endpoint.process is not None:
            try:
                counts = self._namespace.settled_row_counts()
                endpoint.notes.append(f"Postgres rows written by the ledger: {counts}")
            except Exception as exc:  # NOTE: evidence only; never fail the run over it.
                endpoint.notes.append(f"could not count ledger rows: {exc}")
        for proc in [p for p in (endpoint.process, *endpoint.helpers) if p is not None]:
            ctx.procs.stop(proc)
        if self._namespace is not None:
            self._namespace.drop()
            self._namespace = None


def generate_key(base: str, models: list[str], limits: dict[str, Any]) -> str:
    """A virtual key from ``POST /key/generate`` (LiteLLM's body), authorised by the master key."""
    body = json.dumps({"models": models, "key_alias": "bench", **limits}).encode()
    request = urllib.request.Request(
        f"{base}/key/generate", data=body, method="POST",
        headers={"Authorization": f"Bearer {MASTER_KEY}", "Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(request, timeout=10) as resp:
            key = json.loads(resp.read())["key"]
    except urllib.error.HTTPError as exc:
        raise ValueError(f"/key/generate answered {exc.code}: {exc.read()[:300]!r}") from None
    if not isinstance(key, str) or not key:
        raise ValueError("/key/generate returned no key")
    return key


def _probe_rate_limit(base: str, model: str) -> str:
    """Check that key limits are enforced at all: a key with ``rpm_limit: 1`` must get a 429."""
    key = generate_key(base, [model], {"rpm_limit": 1})
    body = json.dumps({"model": model, "messages": [{"role": "user", "content": "hi"}]}).encode()
    statuses = []
    for _ in range(2):
        request = urllib.request.Request(
            f"{base}/v1/chat/completions", data=body, method="POST",
            headers={"Authorization": f"Bearer {key}", "Content-Type": "application/json"})
        try:
            with urllib.request.urlopen(request, timeout=10) as resp:
                statuses.append(resp.status)
        except urllib.error.HTTPError as exc:
            statuses.append(exc.code)
    if statuses == [200, 429]:
        return "rpm_limit enforced (a probe key with rpm_limit 1 got 200 then 429)"
    return f"WARNING: rpm_limit NOT enforced (probe key with rpm_limit 1 got {statuses})"
