"""The ``llmux`` command line.

``llmux serve`` runs the gateway (in standalone mode also its ledger and projector);
``llmux ledger`` and ``llmux projector`` run those alone in distributed mode; ``llmux config check``
validates a file; ``llmux keys create`` asks a running gateway for a key; ``llmux projections
rebuild spend`` replays a projection from the event log.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence

from ingress import commands
from projections import PROJECTION_NAMES
from schemas.config import LLMuxConfig
from schemas.config_loader import ConfigError, default_config, load_config

__all__ = ["main"]


def main(argv: Sequence[str] | None = None) -> int:
    parser = _parser()
    args = parser.parse_args(argv)
    if not hasattr(args, "handler"):
        parser.print_help()
        return 2
    try:
        config = _config(args)
    except ConfigError as exc:
        print(f"llmux: invalid configuration: {exc}", file=sys.stderr)
        return 1
    try:
        result: int = args.handler(config, args)
    except commands.CommandError as exc:
        print(f"llmux: {exc}", file=sys.stderr)
        return 1
    return result


def _config(args: argparse.Namespace) -> LLMuxConfig:
    path = getattr(args, "config", None) or getattr(args, "file", None)
    if path:
        return load_config(path, os.environ)
    return default_config(os.environ)


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="llmux", description="LLMux LLM gateway")
    sub = parser.add_subparsers()

    serve = sub.add_parser("serve", help="run the gateway")
    serve.add_argument("--config", help="YAML config file (default: built-in standalone demo)")
    serve.add_argument("--host")
    serve.add_argument("--port", type=int)
    serve.set_defaults(handler=commands.serve)

    for name, handler, text in (("ledger", commands.ledger, "run the ledger (distributed)"),
                                ("projector", commands.projector, "run the projector")):
        process = sub.add_parser(name, help=text)
        process.add_argument("--config", required=True)
        process.set_defaults(handler=handler)

    config = sub.add_parser("config", help="configuration tools").add_subparsers()
    check = config.add_parser("check", help="validate a config file")
    check.add_argument("file")
    check.set_defaults(handler=commands.config_check)

    keys = sub.add_parser("keys", help="virtual keys").add_subparsers()
    create = keys.add_parser("create", help="create a virtual key on a running gateway")
    create.add_argument("--config")
    create.add_argument("--url", help="gateway URL (default: from the config's server section)")
    create.add_argument("--alias")
    create.add_argument("--models", help="comma-separated allowed models")
    create.set_defaults(handler=commands.keys_create)

    projections = sub.add_parser("projections", help="read models").add_subparsers()
    rebuild = projections.add_parser("rebuild", help="drop a projection and replay it")
    rebuild.add_argument("name", choices=PROJECTION_NAMES)
    rebuild.add_argument("--config")
    rebuild.set_defaults(handler=commands.projections_rebuild)
    return parser


if __name__ == "__main__":
    raise SystemExit(main())
