"""``build_runtime``: what each mode's runtime is made of."""

from __future__ import annotations

from pathlib import Path

from ingress.runtime import build_runtime
from ledger import LocalBus
from schemas.config_loader import parse_config


def test_standalone_bounds_its_ledger_backlog_as_configured(tmp_path: Path) -> None:
    config = parse_config(f"deployment: {{mode: standalone, data_dir: '{tmp_path}'}}\n"
                          "bus: {max_backlog: 1234}\n", {})
    runtime = build_runtime(config)
    assert isinstance(runtime.bus, LocalBus)
    assert runtime.bus.max_backlog == 1234
