"""What each ``llmux`` subcommand does, given a validated config."""

from __future__ import annotations

import argparse
import asyncio
import gc
import json
import logging
import math
import os
import signal
import urllib.error
import urllib.request

import uvicorn

from ingress import processes
from ingress.app import create_app
from ingress.draining import SettlingApp
from ingress.forwarding import forwarding_options
from ingress.heap import fix_mmap_threshold
from ingress.logs import configure_logging
from ingress.read_deadline import http_protocol
from ingress.secrets import SecretsError, load_secrets
from schemas.config import LLMuxConfig, duration_seconds

__all__ = [
    "CommandError",
    "config_check",
    "keys_create",
    "ledger",
    "projections_rebuild",
    "projector",
    "serve",
]

_log = logging.getLogger("llmux.cli")


class CommandError(RuntimeError):
    """A command could not do its job; the message says why (and never holds a secret)."""


def serve(config: LLMuxConfig, args: argparse.Namespace) -> int:
    configure_logging(config.logging)
    _warn_of_settings_not_in_force(config)
    host = args.host or config.server.host
    port = args.port if args.port is not None else config.server.port
    try:
        app = create_app(config)
    except SecretsError as exc:
        raise CommandError(str(exc)) from None
    if config.deployment.mode == "standalone" and not args.config:
        _print_demo_banner(config, host, port)
    server = uvicorn.Server(uvicorn.Config(
        SettlingApp(app), host=host, port=port, loop="uvloop",
        http=http_protocol(duration_seconds(config.server.read_timeout)),
        lifespan="on", access_log=False, log_config=None, timeout_keep_alive=75,
        server_header=False,
        timeout_graceful_shutdown=math.ceil(duration_seconds(config.server.shutdown_timeout)),
        **forwarding_options(config.server.trusted_proxies),
    ))
    _prepare_heap_for_a_long_run()
    server.run()
    return 0 if server.started else 1


def _warn_of_settings_not_in_force(config: LLMuxConfig) -> None:
    """Say so when a setting asks for what is not built yet, rather than silently doing nothing."""
    if config.tracing.enabled:
        _log.warning("tracing.enabled is set, but OpenTelemetry export is not built yet: "
                     "no spans are sent")


def _prepare_heap_for_a_long_run() -> None:
    """Fix malloc's mmap threshold (``ingress.heap``), then freeze what was built so far."""
    fix_mmap_threshold()
    _freeze_startup_heap()


def _freeze_startup_heap() -> None:
    """Exclude everything built so far (modules, config, the app) from garbage collection.

    # PERF: the cyclic collector kept re-scanning the ~10^5 long-lived objects of the imported
    # libraries: 10 % of the gateway's CPU under load (perf: gc_collect_main, visit_decref,
    # visit_reachable). Frozen, they are never scanned again: 2-3 % left, 375-449 -> 345-369 µs
    # per request in distributed mode (docs/performance.md, step 5). Nothing frozen is freed.
    """
    gc.collect()
    gc.freeze()


def ledger(config: LLMuxConfig, args: argparse.Namespace) -> int:
    configure_logging(config.logging)
    _prepare_heap_for_a_long_run()
    asyncio.run(_until_signalled(processes.run_ledger, config))
    return 0


def projector(config: LLMuxConfig, args: argparse.Namespace) -> int:
    configure_logging(config.logging)
    _prepare_heap_for_a_long_run()
    asyncio.run(_until_signalled(processes.run_projector, config))
    return 0


def config_check(config: LLMuxConfig, args: argparse.Namespace) -> int:
    providers = ", ".join(f"{p.name} ({p.type})" for p in config.providers) or "none"
    print(f"{args.file}: OK — mode {config.deployment.mode}, providers: {providers}")
    return 0


def keys_create(config: LLMuxConfig, args: argparse.Namespace) -> int:
    master_key = os.environ.get("LLMUX_MASTER_KEY") or load_secrets(config).master_key
    if not master_key:
        raise CommandError("no master key: set auth.master_key or LLMUX_MASTER_KEY")
    host = "127.0.0.1" if config.server.host in ("0.0.0.0", "::") else config.server.host
    port = config.server.admin_port or config.server.port  # management moves to the admin port
    url = (args.url or f"http://{host}:{port}").rstrip("/") + "/key/generate"
    body: dict[str, object] = {"key_alias": args.alias}
    if args.models:
        body["models"] = [m.strip() for m in args.models.split(",") if m.strip()]
    request = urllib.request.Request(url, data=json.dumps(body).encode(), method="POST", headers={
        "Authorization": f"Bearer {master_key}", "Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            created = json.loads(response.read())
    except (urllib.error.URLError, OSError) as exc:
        raise CommandError(f"cannot create a key through {url}: {exc}") from None
    print(json.dumps(created, indent=2))
    return 0


def projections_rebuild(config: LLMuxConfig, args: argparse.Namespace) -> int:
    configure_logging(config.logging)
    count = processes.rebuild_projection(config, args.name)
    print(f"projection {args.name!r} rebuilt from {count} events")
    return 0


async def _until_signalled(run: processes.ProcessMain, config: LLMuxConfig) -> None:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, stop.set)
    await run(config, stop)


def _print_demo_banner(config: LLMuxConfig, host: str, port: int) -> None:
    demo_key = load_secrets(config).demo_key
    print(
        "\nLLMux standalone demo: mock provider, no network needed.\n"
        f"  data dir: {config.deployment.data_dir}\n"
        "  models: mock-gpt, gpt-4o-mini, claude-3-5-haiku\n"
        f"  demo key: {demo_key}\n\n"
        f"  curl http://{host}:{port}/v1/chat/completions \\\n"
        f"    -H 'Authorization: Bearer {demo_key}' -H 'Content-Type: application/json' \\\n"
        "    -d '{\"model\": \"mock-gpt\", "
        "\"messages\": [{\"role\": \"user\", \"content\": \"Hello\"}]}'\n",
        flush=True,
    )
