"""``build_runtime``: what each mode's runtime is made of."""

from __future__ import annotations

import contextlib
import os
from pathlib import Path

from ingress.runtime import build_runtime
from ledger import LocalBus
from schemas.config_loader import parse_config


async def test_standalone_runtime_bounds_its_backlog_and_closes_its_files(tmp_path: Path) -> None:
    config = parse_config(f"deployment: {{mode: standalone, data_dir: '{tmp_path}'}}\n"
                          "bus: {max_backlog: 1234}\n", {})
    runtime = build_runtime(config)
    await runtime.start()
    try:
        assert isinstance(runtime.bus, LocalBus)
        assert runtime.bus.max_backlog == 1234
    finally:
        await runtime.aclose()
    assert not _open_files_under(tmp_path)  # bus, ledger, projections: all closed


def _open_files_under(folder: Path) -> list[str]:
    paths = []
    for fd in Path("/proc/self/fd").iterdir():
        with contextlib.suppress(OSError):
            paths.append(os.readlink(fd))
    return [p for p in paths if p.startswith(str(folder))]
